#!/usr/bin/env bash
# Type-checks the firmware for the Raspberry Pi (aarch64), so the Pi-only code (rppal PWM and
# GPIO, and everything else) keeps compiling although it cannot run here. `cargo check` links
# nothing, so the sysroot only needs the GStreamer .pc files: they come from Debian's arm64
# -dev packages, downloaded with a private apt state (the machine's own packages stay as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

# apt reads relative Dir:: paths against each other, so the cache path must be absolute.
mkdir -p "${CARGO_TARGET_DIR:-target}/aarch64-sysroot"
cache=$(cd "${CARGO_TARGET_DIR:-target}/aarch64-sysroot" && pwd)
sysroot=$cache/root
if [ ! -f "$cache/ready" ]; then
  echo "check-aarch64: fetching the arm64 GStreamer development files"
  mkdir -p "$cache"/{state,lists/partial,debs/partial} "$sysroot"
  : > "$cache/state/status"
  apt_opts=(-o Debug::NoLocking=1 -o Dir::State::status="$cache/state/status" -o Dir::State::Lists="$cache/lists"
            -o Dir::Cache="$cache" -o Dir::Cache::archives="$cache/debs" -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
  apt-get "${apt_opts[@]}" update -qq
  apt-get "${apt_opts[@]}" --no-install-recommends --download-only -y -qq install \
    libgstrtspserver-1.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev >/dev/null
  for deb in "$cache"/debs/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$sysroot" --wildcards '*.pc' 2>/dev/null || true
  done
  rm -rf "$cache/debs"
  touch "$cache/ready"
fi

# gstreamer-webrtc-1.0.pc is only in the -bad -dev package, whose dependencies (OpenCV and
# more, hundreds of MB) pkg-config does not need: that one package alone, without them.
webrtc_pc=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig/gstreamer-webrtc-1.0.pc
if [ ! -f "$webrtc_pc" ]; then
  echo "check-aarch64: fetching the arm64 WebRTC development files"
  mkdir -p "$cache/one"
  apt_opts=(-o Debug::NoLocking=1 -o Dir::State::status="$cache/state/status" -o Dir::State::Lists="$cache/lists"
            -o Dir::Cache="$cache" -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
  (cd "$cache/one" && { apt-get "${apt_opts[@]}" download -qq libgstreamer-plugins-bad1.0-dev:arm64 >/dev/null 2>&1 ||
    { apt-get "${apt_opts[@]}" update -qq && apt-get "${apt_opts[@]}" download -qq libgstreamer-plugins-bad1.0-dev:arm64 >/dev/null; }; })
  for deb in "$cache"/one/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$sysroot" --wildcards '*.pc' 2>/dev/null || true
  done
  rm -rf "$cache/one"
fi

export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR=$sysroot
export PKG_CONFIG_LIBDIR=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig
cargo check --target aarch64-unknown-linux-gnu -p babymonitor
