#!/usr/bin/env bash
# Runs every fuzz target (or those in $TARGETS) for SECONDS (default 180), two at a time,
# starting from the seeds.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets stable rustc take the
# sanitizer flags cargo fuzz passes. A crash leaves its input in fuzz/artifacts/<target>/:
# copy it to fuzz/regressions/<target>--<what> once fixed, so `cargo test` replays it.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-180}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
targets="${TARGETS:-$(cargo fuzz list)}"
run() {
  local t=$1
  mkdir -p "corpus/$t"
  cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -max_len=131072 -rss_limit_mb=2048 -timeout=10 \
    > "target/fuzz-$t.log" 2>&1 && echo "$t: ok ($(grep -o 'Done [0-9]* runs in [0-9]* second' "target/fuzz-$t.log" | tail -n 1))" \
    || { echo "$t: FAILED (fuzz/target/fuzz-$t.log)"; return 1; }
}
status=0
set -- $targets
while [ $# -gt 0 ]; do
  run "$1" & a=$!
  if [ $# -gt 1 ]; then run "$2" & b=$!; else b=; fi
  wait $a || status=1
  [ -n "$b" ] && { wait $b || status=1; }
  shift; [ $# -gt 0 ] && shift
done
exit $status
