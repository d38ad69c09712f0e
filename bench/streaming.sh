#!/usr/bin/env bash
# Streaming side by side with a plain gst-rtsp-server program (tests/src/bin/plain_rtsp.rs):
# first frame cold and warm, CPU with 1 and 10 viewers, RSS, bit rate.
# Usage: bench/streaming.sh [x264 preset]   Prints Markdown tables for docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-superfast}
cargo build --release -q -p babymonitor -p babymonitor-e2e --bin babymonitor --bin bench --bin plain_rtsp
BABYMONITOR_BIN=target/release/babymonitor PLAIN_RTSP_BIN=target/release/plain_rtsp \
  BENCH_X264_PRESET="$preset" RUST_LOG=warn ./target/release/bench
