#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of every parser that takes network or
# SD-card input: the targets in fuzz/fuzz_targets, each for a fixed time.
#
# Usage: bench/fuzz.sh [SECONDS_PER_TARGET (60)] [TARGET...]
# Prints a Markdown table for docs/BENCHMARKS.md; exits 1 if any target crashed or hung.
#
# Stable Rust is enough: with `--sanitizer none` cargo-fuzz passes only stable flags (sancov
# passes, `--cfg fuzzing`); AddressSanitizer would need nightly's -Zsanitizer, and the targets
# are safe Rust, so what it would add is little. `-a` keeps debug assertions and overflow
# checks on, so an overflow is a finding too.
# Seeds are committed in fuzz/seeds/<target>; what a run learns goes to fuzz/corpus/<target>
# (ignored, kept between runs), findings to fuzz/artifacts/<target>/. Replay one with
#   cargo fuzz run --sanitizer none -a TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz: seconds must be a number, not '$seconds'" >&2; exit 2 ;;
esac
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TERM_COLOR=never
flags=(--sanitizer none -a)
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
# One build, then the binaries themselves: `cargo fuzz run` would rebuild whenever a source
# changed during a run, in the middle of the timings.
if [ ${#targets[@]} -eq 1 ]; then
  cargo fuzz build "${flags[@]}" "${targets[0]}" >&2
else
  cargo fuzz build "${flags[@]}" >&2
fi
bins=fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release
logs=target/fuzz-logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"

rows=() findings=() failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | sort)
  echo "fuzz: $t for ${seconds}s" >&2
  # libFuzzer stops itself after -max_total_time; the outer timeout is for a hang in between.
  status=0
  timeout --kill-after=10 $((seconds + 60)) \
    "$bins/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -artifact_prefix="fuzz/artifacts/$t/" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$logs/$t.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -n1)
  # libFuzzer's own count at the end: the directory also keeps the units it has since reduced.
  done_line=$(grep -a 'DONE ' "$logs/$t.log" | tail -n1)
  corpus=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$done_line")
  cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$done_line")
  new=$(comm -13 <(printf '%s\n' "$before") <(find "fuzz/artifacts/$t" -type f | sort) | sed '/^$/d')
  crashes=0
  if [ -n "$new" ]; then
    crashes=$(printf '%s\n' "$new" | wc -l)
    while IFS= read -r f; do findings+=("$t: $f"); done <<<"$new"
  fi
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    findings+=("$t: exited with status $status without an artifact; see $logs/$t.log")
    crashes=1
  fi
  [ "$crashes" -eq 0 ] || failed=1
  rows+=("| $t | $seconds | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${corpus:-?} | $crashes |")
done

echo "| target | seconds | executions | executions/s | coverage | corpus | crashes |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
if [ ${#findings[@]} -gt 0 ]; then
  echo
  printf -- '- %s\n' "${findings[@]}"
fi
echo >&2 "fuzz: logs in $logs"
exit "$failed"
