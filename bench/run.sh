#!/usr/bin/env bash
# The peer-session benchmarks (issue 3): build nvabgp (`cargo build-static`, the deployment build,
# see .cargo/config.toml), then run bench/lab/run-all.sh,
# which measures nvabgp, BIRD, FRR, GoBGP and ExaBGP in the same run inside network namespaces it
# creates and removes.  Root only; not part of CI.  Bounded: BUDGET seconds (default 900).
#   bench/run.sh                      build the working tree, full run -> bench/results/
#   REV=HEAD bench/run.sh             build exactly that commit (git archive into target/bench-src,
#                                     own target dir target/bench-build): figures that belong to a
#                                     commit, whatever is uncommitted in the working tree
#   NO_BUILD=1 bench/run.sh           use $NVABGP (default: bench/lab/lib.sh) as it is
#   RUNS=5 BUDGET=1200 bench/run.sh   more runs (see bench/lab/run-all.sh for the knobs)
# Results: bench/results/{m1,m2,m4,m2-sink,steps}.csv, env.txt, summary.md (printed at the end; the
# issue-3 sections of BENCHMARKS.md quote it); raw timelines, logs, pcaps in bench/results/raw/.
set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root (network namespaces, tcpdump)" >&2; exit 1; }
for tool in ip tcpdump jq bird birdc vtysh gobgpd gobgp exabgp /usr/lib/frr/bgpd /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: missing $tool (see bench/README.md)" >&2; exit 1; }
done
REV=${REV:-}
if [ "${NO_BUILD:-0}" = 1 ]; then
  :
elif [ -n "$REV" ]; then
  commit=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}")
  src=$ROOT/target/bench-src
  tdir=$ROOT/target/bench-build
  rm -rf "$src"; mkdir -p "$src"
  git -C "$ROOT" archive "$commit" | tar -x -C "$src"
  triple=x86_64-unknown-linux-gnu
  for d in release "$triple/release"; do
    if [ ! -d "$tdir/$d/deps" ] && [ -d "$ROOT/target/$d/deps" ]; then
      # Seed with the main build's dependencies (a copy, never hard links: rustc rewrites outputs in
      # place) so that only the workspace crates compile.
      mkdir -p "$tdir/$d"
      cp -a "$ROOT/target/$d/deps" "$ROOT/target/$d/build" "$ROOT/target/$d/.fingerprint" "$tdir/$d/"
    fi
  done
  (cd "$src" && CARGO_TARGET_DIR=$tdir cargo build-static --locked -p nvabgp --bin nvabgp)
  export NVABGP=$tdir/$triple/release/nvabgp NVABGP_REV=$commit
else
  (cd "$ROOT" && cargo build-static -p nvabgp --bin nvabgp)
  export NVABGP=$ROOT/target/x86_64-unknown-linux-gnu/release/nvabgp
fi
export RUN_COMMAND="${RUN_COMMAND:-${REV:+REV=$REV }bench/run.sh}"
exec bash "$ROOT/bench/lab/run-all.sh"
