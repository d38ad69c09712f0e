#!/usr/bin/env bash
# Network fuzz campaign: mutated SOAP (Digest, WS-Security), RTSP and interleaved RTP (the
# backchannel included), the HTTP API, WHEP/talk offers, clip uploads, WS-Discovery datagrams,
# and slow or partial connections, against a simulated daemon on loopback. Health checks every
# few hundred inputs; crashes and hangs are saved with reproducers and the daemon is restarted.
#
# Usage: bench/fuzz-net.sh [--minutes N] [--seed N] [--target soap,rtsp,rtp,api,whep,clips,discovery,slow]
#                          [--results DIR] [--replay CASE_DIR]
# Prints a Markdown summary for docs/BENCHMARKS.md; exits 1 if anything crashed or hung.
# As root it runs in a network namespace of its own with only `lo`, so WS-Discovery's multicast
# never leaves the machine; otherwise discovery is off. Set BABYMONITOR_BIN to skip the build.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10 seed="" targets="" results="" replay=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --target|--targets) targets=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --replay) replay=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fuzz-net: unknown option $1" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
[ -x "$python" ] || python=python3
command -v ffmpeg >/dev/null || echo "fuzz-net: no ffmpeg: clip seeds are WAV only (apt-get install ffmpeg)"

if [ -n "${BABYMONITOR_BIN:-}" ]; then
  bin=$BABYMONITOR_BIN
else
  cargo build --release -q -p babymonitor
  bin=$PWD/target/release/babymonitor
fi
results=${results:-$PWD/target/fuzz-net/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$results"
args=(--bin "$bin" --minutes "$minutes" --results "$results")
[ -n "$seed" ] && args+=(--seed "$seed")
[ -n "$targets" ] && args+=(--target "$targets")
[ -n "$replay" ] && args+=(--replay "$replay")

if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1; then
  ns=bmfuzz-$$
  # shellcheck disable=SC2317 # called by the EXIT trap
  cleanup() {
    # Whatever still runs in our namespace is ours (the fuzzer and its daemon): TERM, then KILL.
    local pids
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    if [ ${#pids[@]} -gt 0 ]; then
      kill "${pids[@]}" 2>/dev/null || true
      for _ in $(seq 50); do sleep 0.2; [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; done
      mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
      [ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null
    fi
    ip netns del "$ns" 2>/dev/null || true
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # Hello, Bye and the answers to multicast probes go to 239.255.255.250: inside the namespace,
  # the only way there is lo.
  ip -n "$ns" route add 224.0.0.0/4 dev lo
  echo "fuzz-net: network namespace $ns (only lo), discovery on"
  set +e
  ip netns exec "$ns" "$python" bench/fuzz_net.py --discovery "${args[@]}"
  status=$?
  set -e
else
  echo "fuzz-net: not root (or no network namespaces): discovery off, WS-Discovery is not fuzzed"
  args+=(--target "${targets:-soap,rtsp,rtp,api,whep,clips,slow}")
  set +e
  "$python" bench/fuzz_net.py "${args[@]}"
  status=$?
  set -e
fi
echo "fuzz-net: results in $results"
exit $status
