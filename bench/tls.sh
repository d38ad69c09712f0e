#!/usr/bin/env bash
# HTTPS against plain HTTP: ONVIF GetProfiles with keep-alive (requests/s, p50, p99) and the cost
# of a full TLS handshake, on loopback.
# Usage: bench/tls.sh [seconds]   Prints Markdown tables for docs/BENCHMARKS.md.
# BABYMONITOR_BIN=target/debug/babymonitor skips the release build (a quick try, not figures).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
if [ -z "${BABYMONITOR_BIN:-}" ]; then
  cargo build --release -q -p babymonitor
  export BABYMONITOR_BIN=$PWD/target/release/babymonitor
  cargo run --release -q -p babymonitor-e2e --bin tls_bench -- "$seconds"
else
  cargo run -q -p babymonitor-e2e --bin tls_bench -- "$seconds"
fi
