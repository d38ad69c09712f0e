#!/usr/bin/env bash
# Every test: formatting, lints, unit tests and the end-to-end tests against the real daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
BABYMONITOR_TEST_CLIENTS=1 source scripts/setup.sh
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The Pi's code paths (hardware PWM, GPIO) compile for the Pi.
./scripts/check-aarch64.sh
# The end-to-end tests start the daemon binary themselves.
cargo build -p babymonitor
# Each end-to-end test runs its own daemon; two at a time fit the two-core machines we use.
cargo test --workspace -- --test-threads=2
# Real ONVIF clients: onvif-zeep-async (Home Assistant, Frigate) and the npm onvif client.
.venv/bin/pytest -q tests/python
(cd tests/node && node --test)
