#!/usr/bin/env bash
# Full measurement as recorded in RESULTS.md: build, generate the corpus if
# missing, then N independent bench invocations (default 5), each with 5 timed
# runs per candidate, allocation counts, perf instruction counts and
# per-candidate peak RSS; finally pool them into <dir>/summary.md.
#   scripts/run-all.sh [N] [OUTDIR] [bench options...]
#   (OUTDIR defaults to results/<UTC timestamp>)
#   BGP_PROTO_PATH=<path to bgp-proto> scripts/run-all.sh   # another bgp-proto
#   BGP_PROTO_PATH= scripts/run-all.sh                      # crates.io codecs only
# Without BGP_PROTO_PATH, this project's bgp-proto (../../bgp-proto) is
# plugged in as candidate "ours".
set -euo pipefail
cd "$(dirname "$0")/.."
n=5; dir="results/$(date -u +%Y%m%dT%H%M%SZ)"
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then n="$1"; shift; fi
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then dir="$1"; shift; fi
# With BGP_PROTO_PATH non-empty, build with our codec plugged in (README.md).
build=(--release --bins)
BGP_PROTO_PATH="${BGP_PROTO_PATH-../../bgp-proto}"
if [ -n "$BGP_PROTO_PATH" ]; then
    BGP_PROTO_PATH="$(cd "$BGP_PROTO_PATH" && pwd)"; export BGP_PROTO_PATH
    build+=(--features ours --config "patch.crates-io.bgp-proto.path=\"$BGP_PROTO_PATH\"")
fi
cargo build "${build[@]}"
[ -f corpus/updates.bin ] || ./target/release/gen
mkdir -p "$dir"
for i in $(seq 1 "$n"); do
    echo "== invocation $i/$n ($(date -u +%FT%TZ), loadavg $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    ./target/release/bench corpus/updates.bin --rss --perf \
        --md "$dir/run-$i.md" --json "$dir/run-$i.json" "$@"
done
python3 scripts/aggregate.py "$dir"/run-*.json > "$dir/summary.md"
cat "$dir/summary.md"
