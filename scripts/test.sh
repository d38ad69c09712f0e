#!/usr/bin/env bash
# Every test: formatting, lints, unit tests and the end-to-end tests against the real daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
BABYMONITOR_TEST_CLIENTS=1 source scripts/setup.sh
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The fuzz targets (their own workspace, see fuzz/Cargo.toml) must keep building; bench/fuzz.sh
# runs them. Linting them here shares the workspace's target directory, so it takes seconds.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --target-dir target --all-targets -- -D warnings
# The Pi's build: cross-compiled for aarch64 against Debian's arm64 GStreamer, then run under
# qemu, where ffprobe must find H.264 and AAC on /stream.
./scripts/cross-aarch64.sh
# The end-to-end tests start the daemon binary themselves.
cargo build -p babymonitor
# The SD-card image: post-build, first-boot setup, genimage layout, shellcheck.
./tests/image/run.sh
# Each end-to-end test runs its own daemon; two at a time fit the two-core machines we use.
cargo test --workspace -- --test-threads=2
# Real ONVIF clients: onvif-zeep-async (Home Assistant, Frigate) and the npm onvif client.
.venv/bin/pytest -q tests/python
(cd tests/node && node --test)
