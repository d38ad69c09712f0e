#!/usr/bin/env bash
# Proves that Buildroot keeps every symbol our defconfig asks for. Kconfig silently drops a
# symbol whose dependencies are not met (a toolchain too old for a package, a missing
# parent option), and the image then lacks it without a word.
#
#   buildroot/check-defconfig.sh BUILDROOT_DIR [OUTPUT_DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
br=${1:?usage: check-defconfig.sh BUILDROOT_DIR [OUTPUT_DIR]}
out=${2:-$(mktemp -d)}
defconfig=$here/configs/babymonitor_rpi3_64_defconfig

make -s -C "$br" BR2_EXTERNAL="$here" O="$out" babymonitor_rpi3_64_defconfig >/dev/null
missing=0
while IFS= read -r line; do
  case "$line" in
    '' ) continue ;;
    '# '*' is not set')
      symbol=${line#\# }
      symbol=${symbol% is not set}
      if grep -q "^$symbol=" "$out/.config"; then
        echo "dropped: $line (it is set)"
        missing=1
      fi
      ;;
    '#'*) continue ;;
    *)
      if ! grep -qxF -- "$line" "$out/.config"; then
        symbol=${line%%=*}
        echo "dropped: $line (.config has: $(grep -E "^(# )?${symbol}[= ]" "$out/.config" || echo nothing))"
        missing=1
      fi
      ;;
  esac
done < "$defconfig"
if [ "$missing" = 0 ]; then
  echo "check-defconfig: every line of $(basename "$defconfig") is in $out/.config"
fi
exit "$missing"
