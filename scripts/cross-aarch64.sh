#!/usr/bin/env bash
# Cross-builds the firmware for the Raspberry Pi (aarch64) and proves the binary works: it runs
# under qemu-aarch64-static with --simulate and the host's ffprobe must find H.264 and AAC on
# /stream. The Pi's libraries come from Debian's arm64 packages unpacked into a sysroot with a
# private apt state (installing :arm64 -dev packages beside the amd64 ones would remove those).
#
#   scripts/cross-aarch64.sh           build and run under qemu
#   scripts/cross-aarch64.sh --build   build only
set -euo pipefail
cd "$(dirname "$0")/.."
run=1
[ "${1:-}" = --build ] && run=0

target=aarch64-unknown-linux-gnu
rustup target list --installed 2>/dev/null | grep -q "$target" || rustup target add "$target"
for tool in aarch64-linux-gnu-gcc qemu-aarch64-static ffprobe; do
  command -v "$tool" >/dev/null || { echo "cross-aarch64: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

# The sysroot, the plugin registry and the cross build live outside the checkout, so a fresh
# clone on the same machine (CI) reuses them: a first run downloads about 850 MB and builds
# every dependency for aarch64, later ones take seconds. BABYMONITOR_CROSS_CACHE moves it.
# apt joins relative Dir:: paths with each other, so every path handed to it is absolute.
cache_root=${BABYMONITOR_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/babymonitor/aarch64}
mkdir -p "$cache_root/sysroot"
cache_root=$(cd "$cache_root" && pwd)
cache=$cache_root/sysroot
target_dir=$cache_root/target
sysroot=$cache/root
# What the simulated firmware loads: GStreamer and the RTSP server to link against, and the
# plugins its pipelines use (test sources, the text overlay from -x, x264enc from ugly,
# avenc_aac from libav, the parsers).
packages=(
  libc6-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp gstreamer1.0-x
)
stamp="${packages[*]} libgstreamer-plugins-bad1.0-dev"
if [ ! -f "$cache/ready" ] || [ "$(cat "$cache/ready")" != "$stamp" ]; then
  echo "cross-aarch64: fetching Debian's arm64 GStreamer into $sysroot"
  rm -rf "$cache"
  mkdir -p "$cache"/{state,lists/partial,debs/partial} "$sysroot"
  : > "$cache/state/status"
  apt_opts=(-o Debug::NoLocking=1 -o Dir::State::status="$cache/state/status" -o Dir::State::Lists="$cache/lists"
            -o Dir::Cache="$cache" -o Dir::Cache::archives="$cache/debs"
            -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
  apt-get "${apt_opts[@]}" update -qq
  apt-get "${apt_opts[@]}" --no-install-recommends --download-only -y -qq install "${packages[@]}" >/dev/null
  # The web page's WebRTC links gstreamer-webrtc-1.0, whose .pc and .so link are only in the
  # -bad -dev package; its own dependencies (OpenCV and more, hundreds of MB) are not needed:
  # that one package alone (the library itself came with the -bad plugins).
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" download -qq libgstreamer-plugins-bad1.0-dev:arm64 >/dev/null)
  for deb in "$cache"/debs/*.deb; do
    dpkg-deb -x "$deb" "$sysroot"
  done
  # dpkg -x runs no maintainer scripts, so the alternatives links libav needs are missing.
  lib=$sysroot/usr/lib/aarch64-linux-gnu
  for alt in libblas.so.3 liblapack.so.3; do
    found=$(find "$lib" -path "*/$alt" -not -type d | head -n1)
    if [ -n "$found" ] && [ ! -e "$lib/$alt" ]; then
      ln -s "${found#"$lib"/}" "$lib/$alt"
    fi
  done
  # Absolute symlinks inside the sysroot (libc's .so links) must point into it.
  find "$sysroot" -type l -lname '/*' | while read -r link; do
    ln -sfn "$sysroot$(readlink "$link")" "$link"
  done
  rm -rf "$cache/debs" "$cache/lists"
  printf '%s' "$stamp" > "$cache/ready"
fi

export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR=$sysroot
export PKG_CONFIG_LIBDIR=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$sysroot"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
# C in crates (ring, for TLS) needs the arm64 libc headers, which are in the sysroot only.
export CFLAGS_aarch64_unknown_linux_gnu="--sysroot=$sysroot"
# Only the firmware: the tests and the fuzzers are not for the Pi.
CARGO_TARGET_DIR=$target_dir cargo build --target "$target" -p babymonitor --bin babymonitor
binary=$target_dir/$target/debug/babymonitor
file "$binary" | grep -q 'ARM aarch64' || { echo "cross-aarch64: $binary is not an aarch64 program" >&2; exit 1; }
[ "$run" = 1 ] || exit 0

# Run it under qemu with the sysroot's loader, libraries and plugins.
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rtsp_port=$(free_port)
http_port=$(free_port)
password=cross-$RANDOM$RANDOM
cat > "$work/config.toml" <<EOF
[rtsp]
port = $rtsp_port
[http]
port = $http_port
[onvif]
discovery = false
[storage]
data_dir = "$work/data"
[video.main]
width = 320
height = 240
[video.sub]
width = 160
height = 120
[[users]]
name = "admin"
password = "$password"
role = "admin"
EOF
gst=$sysroot/usr/lib/aarch64-linux-gnu/gstreamer-1.0
scanner=$(find "$sysroot/usr/lib/aarch64-linux-gnu" -name gst-plugin-scanner -type f | head -n1)
# The plugin scanner is an aarch64 program too: with no fork GStreamer loads the plugins in
# the (emulated) process itself. Scanning them under emulation takes minutes, so the
# registry is kept with the sysroot and only the first run pays for it.
env QEMU_LD_PREFIX="$sysroot" \
  LD_LIBRARY_PATH="$sysroot/usr/lib/aarch64-linux-gnu:$sysroot/lib/aarch64-linux-gnu" \
  GST_PLUGIN_SYSTEM_PATH_1_0="$gst" GST_PLUGIN_PATH_1_0= \
  GST_PLUGIN_SCANNER_1_0="$scanner" GST_REGISTRY_1_0="$cache/registry.bin" GST_REGISTRY_FORK=no \
  qemu-aarch64-static "$binary" --simulate --config "$work/config.toml" >"$work/log" 2>&1 &
pid=$!

url="rtsp://admin:$password@127.0.0.1:$rtsp_port/stream"
codecs=
# Emulation is slow (the first start scans every plugin): allow it a few minutes.
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; echo "cross-aarch64: the aarch64 daemon exited" >&2; exit 1; }
  codecs=$(timeout 60 ffprobe -v error -rtsp_transport tcp -show_entries stream=codec_name -of csv=p=0 "$url" 2>/dev/null | sort | tr '\n' ' ') || true
  [ -n "$codecs" ] && break
  sleep 5
done
if [ "$codecs" != "aac h264 " ]; then
  tail -n 50 "$work/log" >&2
  echo "cross-aarch64: expected aac and h264 on /stream, ffprobe found: '${codecs}'" >&2
  exit 1
fi
echo "cross-aarch64: the aarch64 build serves ${codecs% } under qemu"
