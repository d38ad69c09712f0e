#!/usr/bin/env bash
# The demo: simulated hardware, real streaming. Prints the URLs to open with VLC or ffplay.
# Extra arguments go to babymonitor (e.g. --listen 0.0.0.0 to watch from another machine).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release -p babymonitor
exec ./target/release/babymonitor --simulate "$@"
