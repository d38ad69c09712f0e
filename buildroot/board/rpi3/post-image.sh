#!/usr/bin/env bash
# Writes sdcard.img: the boot partition gets the Pi's firmware, the device trees, U-Boot and
# its boot script (boot.scr, from boot.cmd), and the config.txt/cmdline.txt of this board; the
# kernel is in each root file system slot. See genimage.cfg.in for the layout.
# Called by Buildroot with BINARIES_DIR and BUILD_DIR set; the tests call it with stand-ins.
set -euo pipefail

board_dir=$(cd "$(dirname "$0")" && pwd)
: "${BINARIES_DIR:?}" "${BUILD_DIR:?}"
genimage_cfg=$BINARIES_DIR/genimage.cfg
genimage_tmp=$BUILD_DIR/genimage.tmp

files=()
for f in "$BINARIES_DIR"/*.dtb "$BINARIES_DIR"/rpi-firmware/*; do
  [ -e "$f" ] && files+=("${f#"$BINARIES_DIR"/}")
done
kernel=$(sed -n 's/^kernel=//p' "$BINARIES_DIR/rpi-firmware/config.txt")
files+=("$kernel" boot.scr)

boot_files=$(printf '\\t\\t\\t"%s",\\n' "${files[@]}")
sed "s|#BOOT_FILES#|${boot_files}|" "$board_dir/genimage.cfg.in" > "$genimage_cfg"

# genimage copies its root path; the root file system is already an image, so give it an
# empty one.
rootpath_tmp=$(mktemp -d)
trap 'rm -rf "$rootpath_tmp"' EXIT
rm -rf "$genimage_tmp"
genimage \
  --rootpath "$rootpath_tmp" \
  --tmppath "$genimage_tmp" \
  --inputpath "$BINARIES_DIR" \
  --outputpath "$BINARIES_DIR" \
  --config "$genimage_cfg"
