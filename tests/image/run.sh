#!/usr/bin/env bash
# The SD-card image's scripts, run for real against a temporary tree:
#  - post-build.sh on a stand-in root file system;
#  - babymonitor-setup (the first-boot setup) with directories as the boot and data
#    partitions and an image file as the data partition's device;
#  - post-image.sh (genimage) on stand-in partition files, and the card it writes;
#  - who can get in: no console login, the daemon's user, groups and device rules, Bluetooth;
#  - S95babymonitor for real, in a network namespace behind the image's nftables firewall:
#    the daemon runs unprivileged with only its capabilities, serves ports 80, 443, 554 and 322, and
#    the firewall lets in only what the camera serves;
#  - shellcheck over every shell script in the repository.
# Needs the host build of the daemon (cargo build -p babymonitor), root (network namespaces,
# setpriv), nft and setpriv (Debian: nftables, util-linux).
set -euo pipefail
# A shell cannot trap a signal that it was started with ignored (under nohup, or a CI runner
# that ignores SIGHUP), so the respawn loop's SIGHUP passthrough could not be tested: run
# again with SIGHUP at its default, as init starts the loop on the device.
if [ -z "${BM_IMAGE_TEST_HUP:-}" ]; then
  BM_IMAGE_TEST_HUP=1 exec env --default-signal=HUP bash "$0" "$@"
fi
cd "$(dirname "$0")/../.."
repo=$(pwd)
board=$repo/buildroot/board/rpi3
overlay=$board/rootfs-overlay
binary=${BABYMONITOR_BINARY:-${CARGO_TARGET_DIR:-$repo/target}/debug/babymonitor}
[ -x "$binary" ] || { echo "image tests: build the daemon first (cargo build -p babymonitor)" >&2; exit 1; }

work=$(mktemp -d)
# What the namespace tests leave running or created: stopped and removed in every case.
namespaces=()
background=()
cleanup() {
  local pid ns
  for pid in "${background[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [ -s "$work/cam/babymonitor.pid" ]; then
    pid=$(cat "$work/cam/babymonitor.pid")
    if kill -TERM "$pid" 2>/dev/null; then
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
  fi
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
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
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=image test" \
  -keyout "$work/update.key" -out "$work/update.crt" 2>/dev/null
BABYMONITOR_KEYRING=$work/update.crt "$board/post-build.sh" "$target"
BABYMONITOR_KEYRING=$work/update.crt "$board/post-build.sh" "$target" # Buildroot runs it again on every rebuild.
check "post-build puts the update keyring where system.conf names it" cmp -s "$work/update.crt" "$target/etc/rauc/keyring.pem"
check "a Buildroot build without an update keyring stops" \
  bash -c "! BR2_CONFIG=x BABYMONITOR_KEYRING=/nonexistent '$board/post-build.sh' '$work/target2' 2>/dev/null"
for pair in etc/babymonitor:/data/etc/babymonitor etc/wpa_supplicant.conf:/data/etc/wpa_supplicant.conf \
            etc/localtime:/data/etc/localtime etc/dropbear:/data/etc/dropbear root/.ssh:/data/etc/ssh; do
  check "post-build links /${pair%%:*} to ${pair#*:}" test "$(readlink "$target/${pair%%:*}")" = "${pair#*:}"
done
check "post-build makes the /boot and /data mount points" test -d "$target/boot" -a -d "$target/data"

# --- who can get in: the configuration ----------------------------------------------------
defconfig=$repo/buildroot/configs/babymonitor_rpi3_64_defconfig
package=$repo/buildroot/package/babymonitor
rules=$overlay/etc/udev/rules.d/60-babymonitor.rules
check "no login prompt on the serial console (no getty)" \
  grep -qx '# BR2_TARGET_GENERIC_GETTY is not set' "$defconfig"
check "root has no password to log in with (locked)" \
  grep -qx '# BR2_TARGET_ENABLE_ROOT_LOGIN is not set' "$defconfig"
check "no root password in the defconfig" bash -c "! grep -q '^BR2_TARGET_GENERIC_ROOT_PASSWD' '$defconfig'"
check "SSH takes keys only (dropbear -s)" grep -qx 'DROPBEAR_ARGS="-s"' "$overlay/etc/default/dropbear"
check "SSH is off without a key" grep -qxF '[ -s /data/etc/ssh/authorized_keys ] || exit 0' "$overlay/etc/default/dropbear"
# The users table: name uid group gid password home shell groups comment.
read -r user _ group _ password home shell groups _ < <(sed -n '/^define BABYMONITOR_USERS$/{n;p}' "$package/babymonitor.mk") || true
check "the users table has the babymonitor user and group" test "$user:$group" = babymonitor:babymonitor
check "babymonitor cannot log in (no password, no shell)" test "$password $home $shell" = "* - -"
check "babymonitor is in exactly gpio, i2c, video, audio and watchdog" \
  test "$(tr , '\n' <<< "$groups" | sort | tr '\n' ' ')" = "audio gpio i2c video watchdog "
for g in gpio i2c video audio watchdog; do
  check "udev gives devices to the $g group" grep -q "GROUP=\"$g\"" "$rules"
done
check "udev names no group babymonitor is not in" \
  bash -c "grep -o 'GROUP=\"[a-z]*\"' '$rules' | sort -u | grep -vE '\"(gpio|i2c|video|audio|watchdog)\"' | (! grep .)"
check "udev opens neither /dev/mem nor the VideoCore mailbox" bash -c "! grep -vE '^#' '$rules' | grep -qE '\"(mem|vchiq)\"'"
check "the servos' PWM files go to gpio with the mode rppal waits for" \
  grep -qF "chgrp -R gpio /sys%p && chmod -R 0770 /sys%p" "$rules"
check "the image has setpriv for the init script" grep -qx BR2_PACKAGE_UTIL_LINUX_SETPRIV=y "$defconfig"
check "the package selects setpriv" grep -q 'select BR2_PACKAGE_UTIL_LINUX_SETPRIV' "$package/Config.in"
check "the image has nftables (it loads /etc/nftables.conf at boot)" grep -qx BR2_PACKAGE_NFTABLES=y "$defconfig"
check "the kernel has nftables and connection tracking built in" \
  bash -c "grep -qx CONFIG_NF_TABLES_INET=y '$board/linux.fragment' && grep -qx CONFIG_NFT_CT=y '$board/linux.fragment'"
check "config.txt turns Bluetooth off" grep -qx 'dtoverlay=disable-bt' "$board/config.txt"
check "config.txt no longer moves Bluetooth to the mini UART" bash -c "! grep -q 'miniuart-bt' '$board/config.txt'"
check "no Bluetooth stack in the kernel" grep -qx '# CONFIG_BT is not set' "$board/linux.fragment"
check "no BlueZ in the image" bash -c "! grep -qi bluez '$defconfig'"

# --- first-boot setup ----------------------------------------------------------------------
boot=$work/boot
data=$work/data
mkdir -p "$boot" "$data"
truncate -s 16M "$work/data.img"
# The daemon's user on the image is babymonitor; here nobody:nogroup stand in for it.
setup() {
  BOOT_DIR=$boot DATA_DIR=$data DATA_DEV=$work/data.img MOUNT=0 BABYMONITOR=$binary \
    DAEMON_USER=nobody DAEMON_GROUP=nogroup "$overlay/usr/sbin/babymonitor-setup" 2>"$work/setup.err"
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
check "config.toml: root writes it, the daemon's group reads it, no one else" \
  test "$(stat -c '%a %U %G' "$config")" = "640 root nogroup"
check "the daemon's configuration directory: root's, the daemon's group reads it" \
  test "$(stat -c '%a %U %G' "$data/etc/babymonitor")" = "750 root nogroup"
check "the daemon owns its state directory, no one else reads it" \
  test "$(stat -c '%a %U %G' "$data/babymonitor")" = "700 nobody nogroup"
check "/data/etc can be passed through, not listed" test "$(stat -c %a "$data/etc")" = 711
check "the SSH keys stay root's" test "$(stat -c '%a %U' "$data/etc/ssh")" = "700 root"
check "the Wi-Fi settings stay root's" test "$(stat -c '%a %U' "$wpa")" = "600 root"
check "the time zone is readable by every program" test "$(stat -c %a "$data/etc/localtime")" = 644
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
tls=$data/babymonitor/tls
check "the camera's TLS key is made at the first boot, for the daemon only" \
  test "$(stat -c %a "$tls/device.key" 2>/dev/null)" = 600
served=$(openssl x509 -in "$tls/device.crt" -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//')
check "the card names the certificate's fingerprint beside the password" \
  grep -qxF "    $served" "$boot/babymonitor-password.txt"
setup
check "it stays the same at the next boot" grep -qxF "password = \"$made_up\"" "$config"
check "so does the certificate" test "$(openssl x509 -in "$tls/device.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')" = "$served"

# A format that a power cut interrupted is done again; a finished one is never redone.
mkfs.ext4 -q -F -L data-new "$work/data.img"
check "setup after an interrupted format succeeds" setup
check "the interrupted format is redone" bash -c "blkid '$work/data.img' | grep -q 'LABEL=\"data\"'"
uuid=$(blkid -o value -s UUID "$work/data.img")
setup
check "a finished data partition is not formatted again" test "$(blkid -o value -s UUID "$work/data.img")" = "$uuid"

# How the partitions are mounted, with stand-ins for mount and umount that note their arguments.
mkdir -p "$work/stubs"
for tool in mount umount; do
  printf '#!/bin/sh\necho "%s $*" >> "%s/mounts.log"\n' "$tool" "$work" > "$work/stubs/$tool"
  chmod +x "$work/stubs/$tool"
done
PATH=$work/stubs:$PATH BOOT_DIR=$boot DATA_DIR=$data DATA_DEV=$work/data.img MOUNT=1 BABYMONITOR=$binary \
  DAEMON_USER=nobody DAEMON_GROUP=nogroup "$overlay/usr/sbin/babymonitor-setup" 2>"$work/setup.err"
options() { # options MOUNT_POINT: the -o of the mount on it
  sed -n "s|^mount .*-o \([^ ]*\) .* $1\$|\1|p" "$work/mounts.log" | tr , '\n' | sort | tr '\n' ' '
}
check "/data is mounted nosuid, nodev, noexec (and noatime)" \
  test "$(options "$data")" = "noatime nodev noexec nosuid "
check "/boot is mounted nosuid, nodev, noexec while the setup runs" \
  test "$(options "$boot")" = "flush noatime nodev noexec nosuid rw "
check "/boot is unmounted again" grep -qx "umount $boot" "$work/mounts.log"

# --- the daemon feeds the watchdog, and a clean stop disarms it ----------------------------
# Without --simulate (the Pi's servos and GPIO are missing here, which the daemon reports and
# survives), with the test picture, and a plain file standing in for /dev/watchdog.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
: > "$work/watchdog"
cat > "$work/device.toml" <<EOF
[rtsp]
port = $(free_port)
tls_port = $(free_port)
[http]
port = $(free_port)
tls_port = $(free_port)
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
trap 'echo hup >> "$1"' HUP
trap 'echo term >> "$1"; exit 0' TERM
echo run >> "$1"
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
# Signals go once the command runs (the loop has its traps by then), and the answers are
# waited for, not slept on: a loaded machine takes its time.
eventually() { # eventually SECONDS COMMAND...: polls COMMAND until it succeeds or time is up
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
eventually 20 grep -q run "$work/steady.log" # its traps are set before it says so
kill -HUP "$loop"
check "SIGHUP reaches the daemon" eventually 20 grep -q hup "$work/steady.log"
check "SIGHUP does not restart the daemon" test "$(grep -c run "$work/steady.log")" = 1
kill -TERM "$loop"
wait "$loop" 2>/dev/null || true
check "SIGTERM stops the daemon and the loop" \
  bash -c "grep -q term '$work/steady.log' && ! kill -0 $loop 2>/dev/null"

# --- the daemon as its own user, behind the image's firewall ---------------------------------
# S95babymonitor starts the daemon (simulated hardware) for real in a network namespace of
# its own, with the image's ruleset loaded there and nobody:nogroup standing in for the
# babymonitor user; a second namespace, joined by a veth pair, is the parent's phone.
init_script=$package/S95babymonitor
ruleset=$overlay/etc/nftables.conf
camdir=$work/cam
as_image() { # as_image COMMAND...: S95babymonitor with its settings pointing to this tree
  env DEFAULTS="$camdir/defaults" XDG_CACHE_HOME="$camdir/cache" "$@"
}
as_daemon() { as_image sh "$init_script" run "$@"; } # as the daemon's user
fails() { ! "$@" 2>/dev/null; }
# ONVIF SystemReboot runs `reboot`, which (BusyBox, without -f) sends SIGTERM to init. In a PID
# namespace of its own, PID 1 is a shell that exits 0 on SIGTERM, standing in for init;
# `kill -TERM 1` is the call BusyBox's reboot makes.
reboot_reaches_init() { # reboot_reaches_init [CAPS]: with the init script's, or these
  as_image env TEST_CAPS="$1" unshare --pid --fork sh -c \
    '[ "$$" = 1 ] || exit 99; trap "exit 0" TERM; "$@" 2>/dev/null; sleep 1; exit 1' \
    sh sh "$init_script" run kill -TERM 1
}

if [ "$(id -u)" -ne 0 ]; then
  # As the discovery tests do: said loudly, not passed as if they had run.
  echo "SKIPPED: the privilege and firewall checks need root (network namespaces, setpriv)" >&2
else
  cam=bm-image-$$-cam
  phone=bm-image-$$-phone
  ip netns add "$cam" && namespaces+=("$cam")
  ip netns add "$phone" && namespaces+=("$phone")
  ip link add "bmi$$c" type veth peer name "bmi$$p"
  ip link set "bmi$$c" netns "$cam"
  ip link set "bmi$$p" netns "$phone"
  ip -n "$cam" addr add 10.77.14.1/24 dev "bmi$$c"
  ip -n "$phone" addr add 10.77.14.2/24 dev "bmi$$p"
  for n in "$cam" "$phone"; do ip -n "$n" link set lo up; done
  ip -n "$cam" link set "bmi$$c" up
  ip -n "$phone" link set "bmi$$p" up
  in_cam() { ip netns exec "$cam" "$@"; }
  cam_init() { as_image ip netns exec "$cam" sh "$init_script" "$@"; } # S95babymonitor in the camera
  in_phone() { ip netns exec "$phone" "$@"; }

  check "the firewall's ruleset parses (nft -c)" in_cam nft -c -f "$ruleset"
  check "the firewall's ruleset loads" in_cam nft -f "$ruleset"
  served=$(in_cam nft list set inet filter served_tcp) || true
  check "the firewall lets in TCP on exactly 22, 80, 322, 443 and 554" \
    grep -qF 'elements = { 22, 80, 322, 443, 554 }' <<< "$served"
  check "the firewall drops the rest, coming in and forwarded" \
    test "$(in_cam nft list ruleset | grep -c 'policy drop;')" = 2

  # The daemon's files, as the image has them: the state owned by the daemon's user, the
  # configuration readable by its group only.
  mkdir -p "$camdir/state" "$camdir/cache"
  chmod 711 "$work"
  chmod 755 "$camdir"
  printf '[rtsp]\nport = 554\ntls_port = 322\n[http]\nport = 80\ntls_port = 443\n[onvif]\ndiscovery = false\n[storage]\ndata_dir = "%s"\n[[users]]\nname = "admin"\npassword = "image test pass"\nrole = "admin"\n' \
    "$camdir/state" > "$camdir/cam.toml"
  chgrp nogroup "$camdir/cam.toml"
  chmod 640 "$camdir/cam.toml"
  : > "$camdir/daemon.log"
  chown nobody:nogroup "$camdir/state" "$camdir/cache" "$camdir/daemon.log"
  # The daemon's output goes to a file (start-stop-daemon sends it to /dev/null).
  printf '#!/bin/sh\nexec "%s" "$@" >> "%s/daemon.log" 2>&1\n' "$binary" "$camdir" > "$camdir/babymonitor"
  chmod 755 "$camdir/babymonitor"
  install -m 755 "$respawn" "$camdir/babymonitor-respawn"
  cat > "$camdir/defaults" <<EOF
PIDFILE="$camdir/babymonitor.pid"
DAEMON_BIN="$camdir/babymonitor"
RESPAWN="$camdir/babymonitor-respawn"
SETPRIV="$(command -v setpriv)"
BABYMONITOR_ARGS="--config $camdir/cam.toml --simulate --listen 0.0.0.0"
DAEMON_USER=nobody
DAEMON_GROUP=nogroup
[ -z "\${TEST_CAPS:-}" ] || DAEMON_CAPS=\$TEST_CAPS
EOF

  # Stand-ins for other services on ports the firewall must not let in, and for what it must:
  # mDNS, WS-Discovery and a media port (RTP, WebRTC) in the ephemeral range.
  ip netns exec "$cam" python3 "$repo/tests/image/listen.py" "$work/received" &
  background+=($!)

  check "S95babymonitor starts the daemon" cam_init start
  healthy=false
  for _ in $(seq 1 180); do
    if in_phone curl -sf --max-time 2 -o /dev/null http://10.77.14.1/healthz; then healthy=true; break; fi
    sleep 0.5
  done
  check "the unprivileged daemon serves HTTP on port 80, through the firewall" $healthy
  $healthy || sed 's/^/  daemon: /' "$camdir/daemon.log" >&2
  respawn_pid=$(cat "$camdir/babymonitor.pid" 2>/dev/null || echo 0)
  daemon_pid=$(pgrep -P "$respawn_pid" || echo 0)
  status_of() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$daemon_pid/status" 2>/dev/null; }
  check "the respawn loop runs the firmware itself (setpriv execs it)" \
    test "$(readlink "/proc/$daemon_pid/exe")" = "$(readlink -f "$binary")"
  check "the daemon runs as the daemon's user" test "$(status_of Uid)" = "$(printf '65534\t65534\t65534\t65534')"
  check "the daemon runs as the daemon's group" test "$(status_of Gid)" = "$(printf '65534\t65534\t65534\t65534')"
  # CAP_KILL is bit 5, CAP_NET_BIND_SERVICE bit 10: 0x420.
  for set in CapPrm CapEff CapInh CapAmb CapBnd; do
    check "the daemon's $set is exactly net_bind_service and kill" test "$(status_of "$set")" = 0000000000000420
  done
  check "the daemon cannot gain privileges (no_new_privs)" test "$(status_of NoNewPrivs)" = 1

  # From the phone: TCP connects (open), is refused (let in, nothing there) or gets no answer.
  probe=$(in_phone python3 "$repo/tests/image/probe.py" 10.77.14.1)
  sleep 1
  while read -r line; do echo "  phone: $line"; done <<< "$probe"
  check "RTSP (554) is served and let in" grep -qx 'tcp 554 open' <<< "$probe"
  check "HTTPS (443) is served by the unprivileged daemon and let in" grep -qx 'tcp 443 open' <<< "$probe"
  check "RTSPS (322) is served by the unprivileged daemon and let in" grep -qx 'tcp 322 open' <<< "$probe"
  check "TCP 22 is let in (refused: nothing listens here)" grep -qx "tcp 22 refused" <<< "$probe"
  for port in 23 8080 8554; do
    check "a service on TCP $port is not let in" grep -qx "tcp $port dropped" <<< "$probe"
  done
  for port in 3702 5353 40000; do
    check "UDP $port is let in" grep -qx "udp $port" "$work/received"
  done
  check "UDP 9999 is not let in" fails grep -qx 'udp 9999' "$work/received"

  check "S95babymonitor reload" cam_init reload
  check "SIGHUP reaches the unprivileged daemon, which reads its configuration again" \
    eventually 30 grep -q "configuration reloaded" "$camdir/daemon.log"
  check "the reload does not restart the daemon" test "$(pgrep -P "$respawn_pid")" = "$daemon_pid"

  # What the daemon's user may do on the data partition the setup prepared.
  check "the daemon's user reads its configuration" as_daemon test -r "$config"
  check "the daemon's user cannot change its configuration" fails as_daemon test -w "$config"
  check "the daemon's user cannot read the Wi-Fi key" fails as_daemon cat "$wpa"
  check "the daemon's user writes its state" as_daemon touch "$data/babymonitor/written"
  # 443: the HTTPS port, free here. Exit status 13: refused for want of privilege.
  bind444='import socket, sys
try:
    socket.socket().bind(("127.0.0.1", 444))
except PermissionError:
    sys.exit(13)'
  binds() { # binds [CAPS]: the exit status of binding port 444 (443 is served) as the daemon's user
    local status=0
    as_image env TEST_CAPS="$1" ip netns exec "$cam" sh "$init_script" run /usr/bin/python3 -c "$bind444" || status=$?
    echo "$status"
  }
  check "the daemon's user binds a port below 1024" test "$(binds "")" = 0
  check "without net_bind_service it could not" test "$(binds kill)" = 13
  check "SystemReboot's reboot reaches init as the daemon's user" reboot_reaches_init ""
  check "without kill it could not (why the daemon has it)" fails reboot_reaches_init net_bind_service

  check "S95babymonitor stop" cam_init stop
  check "the daemon and its respawn loop are gone" \
    bash -c "! kill -0 $respawn_pid 2>/dev/null && ! kill -0 $daemon_pid 2>/dev/null"
  check "the daemon stopped cleanly" grep -q "stopping" "$camdir/daemon.log"
fi

# --- genimage on stand-in partition files ----------------------------------------------------
bin=$work/images
mkdir -p "$bin/rpi-firmware/overlays" "$work/build" "$work/rootfs"
cp "$board/config.txt" "$board/cmdline.txt" "$bin/rpi-firmware/"
cp "$board/babymonitor.toml.example" "$bin/rpi-firmware/"
for f in bootcode.bin start.elf fixup.dat; do head -c 4096 /dev/urandom > "$bin/rpi-firmware/$f"; done
head -c 2048 /dev/urandom > "$bin/rpi-firmware/overlays/pwm-2chan.dtbo"
head -c 2048 /dev/urandom > "$bin/bcm2710-rpi-3-b.dtb"
head -c 65536 /dev/urandom > "$bin/u-boot.bin"
head -c 4096 /dev/urandom > "$bin/boot.scr"
echo babymonitor > "$work/rootfs/hostname"
mkfs.ext4 -q -F -L rootfs -d "$work/rootfs" "$bin/rootfs.ext4" 8M >/dev/null
post_image() {
  BINARIES_DIR="$bin" BUILD_DIR="$work/build" "$board/post-image.sh" >"$work/genimage.log" 2>&1 \
    || { cat "$work/genimage.log" >&2; return 1; }
}
check "post-image.sh (genimage) accepts the layout" post_image
check "sdcard.img is written" test -s "$bin/sdcard.img"
# The partition table: FAT boot (bootable), the two root file system slots A and B (the same
# size, both written), data 512 MiB, each starting on a 4 MiB boundary (SD cards erase in large
# blocks), the first one far enough in for U-Boot's two environment copies before it.
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
check "partition 2 is root file system slot A" bash -c "echo '$table' | grep -q '^2 83 - '"
check "partition 3 is root file system slot B, as large as A" \
  bash -c "[ \"\$(echo '$table' | awk '\$1 == 2 { print \$5 }')\" = \"\$(echo '$table' | awk '\$1 == 3 { print \$5 }')\" ]"
check "partition 4 is the 512 MiB data partition" bash -c "echo '$table' | grep -q '^4 83 - [0-9]* 512$'"
check "the first partition starts after U-Boot's environment (1 MiB + 2 x 16 KiB)" \
  bash -c "echo '$table' | awk '\$1 == 1 && \$4 * 512 >= 1081344 { ok = 1 } END { exit !ok }'"
slot_a_start=$(echo "$table" | awk '$1 == 2 { print $4 }')
slot_b_start=$(echo "$table" | awk '$1 == 3 { print $4 }')
check "both slots start as the image's root file system" bash -c \
  "cmp -s -n 65536 <(dd if='$bin/sdcard.img' bs=512 skip=$slot_a_start count=128 status=none) '$bin/rootfs.ext4' &&
   cmp -s -n 65536 <(dd if='$bin/sdcard.img' bs=512 skip=$slot_b_start count=128 status=none) '$bin/rootfs.ext4'"
check "the first-boot setup formats partition 4 as data, not a slot" \
  grep -qF ':-/dev/mmcblk0p4}' "$overlay/usr/sbin/babymonitor-setup"
check "config.txt starts U-Boot, which chooses the slot" grep -qx 'kernel=u-boot.bin' "$board/config.txt"
check "RAUC's slots are partitions 2 and 3, with the U-Boot backend" bash -c \
  "grep -qx 'device=/dev/mmcblk0p2' '$overlay/etc/rauc/system.conf' && grep -qx 'device=/dev/mmcblk0p3' '$overlay/etc/rauc/system.conf' && grep -qx 'bootloader=uboot' '$overlay/etc/rauc/system.conf'"
check "fw_env.config and U-Boot agree on where the environment is" bash -c \
  "grep -qx 'CONFIG_ENV_OFFSET=0x100000' '$board/uboot.fragment' && grep -qx 'CONFIG_ENV_OFFSET_REDUND=0x104000' '$board/uboot.fragment' &&
   grep -qP '^/dev/mmcblk0\t0x100000\t0x4000$' '$overlay/etc/fw_env.config' && grep -qP '^/dev/mmcblk0\t0x104000\t0x4000$' '$overlay/etc/fw_env.config'"
check "every partition starts on a 4 MiB boundary" bash -c "echo '$table' | awk '\$4 % 8192 { bad = 1 } END { exit bad }'"
files=$(MTOOLS_SKIP_CHECK=1 mdir -i "$bin/boot.vfat" -b ::/ 2>/dev/null)
for f in config.txt cmdline.txt u-boot.bin boot.scr bcm2710-rpi-3-b.dtb babymonitor.toml.example start.elf; do
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
