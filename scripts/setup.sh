#!/usr/bin/env bash
# Installs what building and testing babymonitor needs on Debian/Ubuntu, skipping what is there.
# Used by demo.sh and test.sh; safe to run again.
set -euo pipefail

packages=(
  build-essential pkg-config curl ca-certificates
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp gstreamer1.0-x
  ffmpeg iproute2 python3 python3-venv libxml2-utils
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  # WebRTC for the web page: gstreamer-webrtc-1.0.pc (only in the -bad -dev package) and libnice.
  libgstreamer-plugins-bad1.0-dev gstreamer1.0-nice
  # Firmware updates: --simulate drives the real RAUC (on a private D-Bus of its own) against
  # slot files; mksquashfs makes test bundles.
  rauc dbus squashfs-tools
)
# The test command also cross-builds for the Pi and checks the SD-card image's scripts.
if [ "${BABYMONITOR_TEST_CLIENTS:-0}" = 1 ]; then
  packages+=(gcc-aarch64-linux-gnu qemu-user-static file genimage dosfstools mtools e2fsprogs tzdata shellcheck
    nftables util-linux openssl
    # The MQTT tests start their own broker (on a free loopback port with its own config, never
    # the packaged service's 1883) and publish and read with its command-line clients too.
    mosquitto mosquitto-clients)
fi
# Node.js for the npm ONVIF client; a machine that has node already keeps its own.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

# What only the tests need: the demo skips it.
if [ "${BABYMONITOR_TEST_CLIENTS:-0}" != 1 ]; then
  # shellcheck disable=SC2317 # exit is for when this file is run rather than sourced
  return 0 2>/dev/null || exit 0
fi

# Python clients (onvif-zeep-async as Home Assistant uses it, WSDiscovery) in a venv of ours.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
req="$repo/tests/python/requirements.txt"
stamp="$repo/.venv/.requirements"
if [ ! -x "$repo/.venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  echo "setup: creating the Python venv for the tests"
  python3 -m venv "$repo/.venv"
  "$repo/.venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi

# The web page's tests drive Debian's Chromium (Playwright cannot download browsers here).
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  echo "setup: installing chromium for the web page tests"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends chromium
fi

# The npm clients: ONVIF (agsh/onvif) and playwright-core for the web page.
if [ ! -d "$repo/tests/node/node_modules/onvif" ] || [ ! -d "$repo/tests/node/node_modules/playwright-core" ] || [ "$repo/tests/node/package-lock.json" -nt "$repo/tests/node/node_modules" ]; then
  echo "setup: installing the npm test clients"
  (cd "$repo/tests/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
