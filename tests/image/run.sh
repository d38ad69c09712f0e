#!/usr/bin/env bash
# The SD-card image's scripts, run for real against a temporary tree:
#  - post-build.sh on a stand-in root file system;
#  - babymonitor-setup (the first-boot setup) with directories as the boot and data
#    partitions and an image file as the data partition's device;
#  - post-image.sh (genimage) on stand-in partition files, and the card it writes;
#  - shellcheck over every shell script in the repository.
# Needs the host build of the daemon (cargo build -p babymonitor).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
board=$repo/buildroot/board/rpi3
overlay=$board/rootfs-overlay
binary=${BABYMONITOR_BINARY:-${CARGO_TARGET_DIR:-$repo/target}/debug/babymonitor}
[ -x "$binary" ] || { echo "image tests: build the daemon first (cargo build -p babymonitor)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# --- post-build.sh -------------------------------------------------------------------------
target=$work/target
mkdir -p "$target/etc/dropbear" "$target/root"
echo "UTC" > "$target/etc/localtime"
"$board/post-build.sh" "$target"
"$board/post-build.sh" "$target" # Buildroot runs it again on every rebuild.
for pair in etc/babymonitor:/data/etc/babymonitor etc/wpa_supplicant.conf:/data/etc/wpa_supplicant.conf \
            etc/localtime:/data/etc/localtime etc/dropbear:/data/etc/dropbear root/.ssh:/data/etc/ssh; do
  check "post-build links /${pair%%:*} to ${pair#*:}" test "$(readlink "$target/${pair%%:*}")" = "${pair#*:}"
done
check "post-build makes the /boot and /data mount points" test -d "$target/boot" -a -d "$target/data"

# --- first-boot setup ----------------------------------------------------------------------
boot=$work/boot
data=$work/data
mkdir -p "$boot" "$data"
truncate -s 16M "$work/data.img"
setup() {
  BOOT_DIR=$boot DATA_DIR=$data DATA_DEV=$work/data.img MOUNT=0 BABYMONITOR=$binary \
    "$overlay/usr/sbin/babymonitor-setup" 2>"$work/setup.err"
}
config=$data/etc/babymonitor/config.toml
wpa=$data/etc/wpa_supplicant.conf

cat > "$boot/babymonitor.toml" <<'EOF'
# Our camera.
[camera]
room = "Kids' room"
timezone = "Europe/Berlin"
admin_password = "s3cret admin pass"

[wifi]
ssid = "HomeNet"
password = "wifi \"quoted\" key"
country = "DE"

[ssh]
authorized_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBabymonitorTestKeyOnly owner@laptop"
EOF
check "first boot succeeds" setup
check "the empty data partition is formatted as ext4 named data" \
  bash -c "blkid '$work/data.img' | grep -q 'TYPE=\"ext4\"' && blkid '$work/data.img' | grep -q 'LABEL=\"data\"'"
check "config.toml names the room" grep -qxF "name = \"Kids' room\"" "$config"
check "config.toml has the admin account" grep -qxF 'password = "s3cret admin pass"' "$config"
check "config.toml keeps state on the data partition" grep -qxF "data_dir = \"$data/babymonitor\"" "$config"
check "config.toml feeds the watchdog" grep -qxF 'device = "/dev/watchdog"' "$config"
check "config.toml is readable by root only" test "$(stat -c %a "$config")" = 600
check "Wi-Fi: the network" grep -qxF "$(printf '\tssid="HomeNet"')" "$wpa"
# The key wpa_passphrase derives from it (PBKDF2 over the network name), never the passphrase.
psk=$(printf '\tpsk=81dfd5023d5861bbfe5c36664f0942b04e81ca643a27c6c37b4ff04271ca560f')
check "Wi-Fi: the key as wpa_passphrase derives it" grep -qxF "$psk" "$wpa"
check "Wi-Fi: the passphrase as typed is not stored" bash -c "! grep -q 'quoted' '$wpa'"
check "Wi-Fi: the country" grep -qxF 'country=DE' "$wpa"
check "the time zone is installed" cmp -s /usr/share/zoneinfo/Europe/Berlin "$data/etc/localtime"
check "SSH is on with the owner's key" grep -q '^ssh-ed25519 AAAAC3' "$data/etc/ssh/authorized_keys"
check "the admin password is gone from the boot partition" bash -c "! grep -q 's3cret admin pass' '$boot/babymonitor.toml'"
check "the Wi-Fi key is gone from the boot partition" bash -c "! grep -q 'quoted' '$boot/babymonitor.toml'"
check "the rest of babymonitor.toml is kept" grep -qxF 'ssid = "HomeNet"' "$boot/babymonitor.toml"
check "the owner's comment is kept" grep -qxF '# Our camera.' "$boot/babymonitor.toml"
check "no made-up password when the owner chose one" test ! -e "$boot/babymonitor-password.txt"

# The next boot: nothing changed, nothing is written, the stored secrets stay.
cp "$config" "$work/config.before"
cp "$wpa" "$work/wpa.before"
check "the next boot succeeds" setup
check "the next boot keeps the admin password" cmp -s "$config" "$work/config.before"
check "the next boot keeps the Wi-Fi key" cmp -s "$wpa" "$work/wpa.before"

# The owner edits the room (the password lines are gone): the stored secrets stay.
sed -i "s/^room = .*/room = \"Nursery 2\"/" "$boot/babymonitor.toml"
check "a changed room is applied" setup
check "the new room is in config.toml" grep -qxF 'name = "Nursery 2"' "$config"
check "the admin password survives the change" grep -qxF 'password = "s3cret admin pass"' "$config"
check "the Wi-Fi key survives the change" grep -qxF "$psk" "$wpa"

# Malformed files: reported with the line and field, and nothing changes.
cp "$config" "$work/config.before"
cp "$wpa" "$work/wpa.before"
cp "$boot/babymonitor.toml" "$work/boot.good"
printf '[camera]\nroom = "Nursery\n' > "$boot/babymonitor.toml"
if setup; then fail "a malformed babymonitor.toml is refused"; else pass "a malformed babymonitor.toml is refused"; fi
check "the error names the file and line" grep -q "babymonitor.toml:2:" "$boot/babymonitor-error.txt"
check "the error reaches the log" grep -q "babymonitor.toml:2:" "$work/setup.err"
check "the previous config is kept" cmp -s "$config" "$work/config.before"
check "the previous Wi-Fi settings are kept" cmp -s "$wpa" "$work/wpa.before"
printf '[camera]\nroom = "Nursery"\n\n[wifi]\nssid = "Other"\npassword = "short"\n' > "$boot/babymonitor.toml"
if setup; then fail "a 5-character Wi-Fi key is refused"; else pass "a 5-character Wi-Fi key is refused"; fi
check "the error names line 6 and wifi.password" \
  bash -c "grep -q 'babymonitor.toml:6:' '$boot/babymonitor-error.txt' && grep -q 'wifi.password' '$boot/babymonitor-error.txt'"
check "the previous config is still kept" cmp -s "$config" "$work/config.before"
check "the password stays off the boot partition when a file is refused" bash -c "! grep -rq 's3cret admin pass' '$boot'"

# A lost password: the owner writes a new one on the card.
cp "$work/boot.good" "$boot/babymonitor.toml"
sed -i 's/^\[camera\]$/[camera]\nadmin_password = "a brand new one"/' "$boot/babymonitor.toml"
check "a good file after a bad one is applied" setup
check "the error file is removed" test ! -e "$boot/babymonitor-error.txt"
check "a new admin password replaces the lost one" grep -qxF 'password = "a brand new one"' "$config"
# Edited on Windows: a byte-order mark and CRLF line ends.
printf '\xef\xbb\xbf[camera]\r\nroom = "Windows room"\r\nadmin_password = "typed in notepad"\r\n\r\n[wifi]\r\nssid = "HomeNet"\r\n' > "$work/windows.toml"
cp "$boot/babymonitor.toml" "$work/boot.good"
cp "$work/windows.toml" "$boot/babymonitor.toml"
check "a file saved by Notepad (BOM, CRLF) is applied" setup
check "its room is in config.toml" grep -qxF 'name = "Windows room"' "$config"
check "its password is gone from the card" bash -c "! grep -q 'typed in notepad' '$boot/babymonitor.toml'"
check "the same network keeps its stored key" grep -qxF "$psk" "$wpa"
cp "$work/boot.good" "$boot/babymonitor.toml"
check "the previous file applies again" setup
sed -i 's/^authorized_key = .*/authorized_key = ""/' "$boot/babymonitor.toml"
check "removing the SSH key is applied" setup
check "SSH is off without a key" test ! -e "$data/etc/ssh/authorized_keys"

# A camera whose owner gave no password: one is made up and left on the card for them.
rm -rf "$data" "$boot"
mkdir -p "$boot" "$data"
printf '[camera]\nroom = "Nursery"\n' > "$boot/babymonitor.toml"
check "a first boot without a password succeeds" setup
made_up=$(sed -n 's/^    \(.*\)$/\1/p' "$boot/babymonitor-password.txt" 2>/dev/null | head -n1)
check "the made-up password is on the boot partition" test -n "$made_up"
check "the made-up password is the admin's" grep -qxF "password = \"$made_up\"" "$config"
setup
check "it stays the same at the next boot" grep -qxF "password = \"$made_up\"" "$config"

# A format that a power cut interrupted is done again; a finished one is never redone.
mkfs.ext4 -q -F -L data-new "$work/data.img"
check "setup after an interrupted format succeeds" setup
check "the interrupted format is redone" bash -c "blkid '$work/data.img' | grep -q 'LABEL=\"data\"'"
uuid=$(blkid -o value -s UUID "$work/data.img")
setup
check "a finished data partition is not formatted again" test "$(blkid -o value -s UUID "$work/data.img")" = "$uuid"

# --- the daemon feeds the watchdog, and a clean stop disarms it ----------------------------
# Without --simulate (the Pi's servos and GPIO are missing here, which the daemon reports and
# survives), with the test picture, and a plain file standing in for /dev/watchdog.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
: > "$work/watchdog"
cat > "$work/device.toml" <<EOF
[rtsp]
port = $(free_port)
[http]
port = $(free_port)
[onvif]
discovery = false
[storage]
data_dir = "$work/state"
[watchdog]
device = "$work/watchdog"
interval_s = 1
[[users]]
name = "admin"
password = "watchdog test"
role = "admin"
EOF
"$binary" --config "$work/device.toml" --listen 127.0.0.1 >"$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1 100); do
  [ "$(stat -c %s "$work/watchdog")" -ge 3 ] && break
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
check "the daemon feeds the watchdog while it runs" test "$(stat -c %s "$work/watchdog")" -ge 3
kill -TERM "$daemon" 2>/dev/null || true
wait "$daemon" || true
check "a clean stop disarms the watchdog (magic close)" test "$(tail -c 1 "$work/watchdog")" = V
check "the daemon said it armed the watchdog" grep -q "hardware watchdog armed" "$work/daemon.log"

# --- babymonitor-respawn: restarts, passes SIGHUP on, stops with SIGTERM --------------------
respawn=$repo/buildroot/package/babymonitor/babymonitor-respawn
cat > "$work/crashy" <<'EOF'
#!/bin/sh
echo run >> "$1"
exit 3
EOF
cat > "$work/steady" <<'EOF'
#!/bin/sh
echo run >> "$1"
trap 'echo hup >> "$1"' HUP
trap 'echo term >> "$1"; exit 0' TERM
while :; do sleep 0.1; done
EOF
chmod +x "$work/crashy" "$work/steady"
sh "$respawn" "$work/crashy" "$work/crashy.log" 2>/dev/null &
loop=$!
sleep 1.6
kill -TERM "$loop"
wait "$loop" 2>/dev/null || true
check "a command that exits is started again" test "$(grep -c run "$work/crashy.log")" -ge 2
sh "$respawn" "$work/steady" "$work/steady.log" 2>/dev/null &
loop=$!
sleep 0.5
kill -HUP "$loop"
sleep 0.5
check "SIGHUP reaches the daemon" grep -q hup "$work/steady.log"
check "SIGHUP does not restart the daemon" test "$(grep -c run "$work/steady.log")" = 1
kill -TERM "$loop"
wait "$loop" 2>/dev/null || true
check "SIGTERM stops the daemon and the loop" \
  bash -c "grep -q term '$work/steady.log' && ! kill -0 $loop 2>/dev/null"

# --- genimage on stand-in partition files ----------------------------------------------------
bin=$work/images
mkdir -p "$bin/rpi-firmware/overlays" "$work/build" "$work/rootfs"
cp "$board/config.txt" "$board/cmdline.txt" "$bin/rpi-firmware/"
cp "$board/babymonitor.toml.example" "$bin/rpi-firmware/"
for f in bootcode.bin start.elf fixup.dat; do head -c 4096 /dev/urandom > "$bin/rpi-firmware/$f"; done
head -c 2048 /dev/urandom > "$bin/rpi-firmware/overlays/pwm-2chan.dtbo"
head -c 2048 /dev/urandom > "$bin/bcm2710-rpi-3-b.dtb"
head -c 65536 /dev/urandom > "$bin/Image"
echo babymonitor > "$work/rootfs/hostname"
mkfs.ext4 -q -F -L rootfs -d "$work/rootfs" "$bin/rootfs.ext4" 8M >/dev/null
post_image() {
  BINARIES_DIR="$bin" BUILD_DIR="$work/build" "$board/post-image.sh" >"$work/genimage.log" 2>&1 \
    || { cat "$work/genimage.log" >&2; return 1; }
}
check "post-image.sh (genimage) accepts the layout" post_image
check "sdcard.img is written" test -s "$bin/sdcard.img"
# The partition table: FAT boot (bootable), then the two Linux partitions, data 512 MiB, each
# starting on a 4 MiB boundary (SD cards erase in large blocks).
table=$(python3 - "$bin/sdcard.img" <<'EOF'
import struct, sys
mbr = open(sys.argv[1], "rb").read(512)
assert mbr[510:512] == b"\x55\xaa", "no MBR signature"
for i in range(4):
    e = mbr[446 + 16 * i: 462 + 16 * i]
    boot, kind = e[0], e[4]
    start, sectors = struct.unpack("<II", e[8:16])
    if kind:
        print(f"{i + 1} {kind:02x} {'boot' if boot == 0x80 else '-'} {start} {sectors * 512 // (1024 * 1024)}")
EOF
)
while read -r line; do echo "  partition: $line"; done <<< "$table"
check "partition 1 is the bootable FAT" bash -c "echo '$table' | grep -q '^1 0c boot '"
check "partition 2 is the root file system" bash -c "echo '$table' | grep -q '^2 83 - '"
check "partition 3 is the 512 MiB data partition" bash -c "echo '$table' | grep -q '^3 83 - [0-9]* 512$'"
check "every partition starts on a 4 MiB boundary" bash -c "echo '$table' | awk '\$4 % 8192 { bad = 1 } END { exit bad }'"
files=$(MTOOLS_SKIP_CHECK=1 mdir -i "$bin/boot.vfat" -b ::/ 2>/dev/null)
for f in config.txt cmdline.txt Image bcm2710-rpi-3-b.dtb babymonitor.toml.example start.elf; do
  check "the boot partition holds $f" bash -c "echo '$files' | grep -q '::/$f\$'"
done
check "cmdline.txt mounts the root file system read-only" grep -qw ro "$board/cmdline.txt"

# --- shellcheck ------------------------------------------------------------------------------
scripts=()
while IFS= read -r -d '' f; do
  if [[ $f == *.sh || $f == */etc/default/* ]] || head -n1 "$f" | grep -qE '^#!.*(/|env )(ba)?sh'; then
    scripts+=("$f")
  fi
done < <(git ls-files -z --cached --others --exclude-standard)
check "shellcheck is clean for ${#scripts[@]} scripts" shellcheck -x "${scripts[@]}"

if [ "$failures" -ne 0 ]; then
  echo "image tests: $failures failed" >&2
  exit 1
fi
echo "image tests: all passed"
