#!/usr/bin/env bash
# Where nvabgp's CPU time goes: `perf record` (cpu-clock sampling; this VM has no hardware counters)
# on nvabgp while it takes in N prefixes from one or two feeders, then while it drops the routes of
# a SIGKILLed feeder.  Not part of run-all.sh (perf slows the daemon down); for the evidence in
# BENCHMARKS.md.  Prints the top symbols of each phase; perf data in $RES/raw/profile/.
# Usage: profile.sh [N] [PEERS]      N = 1000000, PEERS = 1 or 2 (two feeders with the same prefixes)
set -u
LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
. "$LAB/lib.sh"; . "$LAB/impls.sh"
N=${1:-1000000}; NP=${2:-1}
OUT=$RES/raw/profile; mkdir -p "$OUT"
command -v perf >/dev/null || { echo "profile.sh: needs perf" >&2; exit 1; }
trap 'lab_cleanup >/dev/null 2>&1' EXIT
topo up || exit 1
rm -rf "$RUN"; mkdir -p "$RUN"
addrs="10.1.1.4"; [ "$NP" = 2 ] && addrs="10.1.1.4 10.1.1.5"
i=0
for a in $addrs; do
  i=$((i + 1))
  ip netns exec "$NS_RS" $PY "$LAB/feeder.py" --listen "$a" --prefixes "$N" --send-delay 1.5 \
    --status "$RUN/feeder$i.json" --lifetime 120 >"$RUN/feeder$i.log" 2>&1 &
  echo $! >"$RUN/feeder$i.pid"
  wait_until 90 0.1 has_ev "$RUN/feeder$i.json" listening
done
export D=$RUN/nvabgp PEERS="$addrs" ROLE=recv
nvabgp_start
P=$(nvabgp_pids)
tag=$N-${NP}rs
perf record -F 2999 -g -p "$P" -o "$OUT/ingest-$tag.data" 2>"$OUT/perf.err" &
PR=$!
$PY "$LAB/ctl.py" $(nvabgp_ctl) until-count $((N * NP)) --paths --timeout 90 --interval 0.01 >/dev/null
kill -INT "$PR"; wait "$PR"
echo "ingest of $NP x $N prefixes: nvabgp CPU $(cpu_ns "$P") ns"
sleep 0.5
perf record -F 2999 -g -p "$P" -o "$OUT/remove-$tag.data" 2>>"$OUT/perf.err" &
PR=$!
sleep 0.5
t0=$(now); kill -9 "$(cat "$RUN/feeder1.pid")"
sleep 2
kill -INT "$PR"; wait "$PR"
echo "routes of the killed peer removed $($PY "$LAB/logtimes.py" "$D/nvabgp.log" "routes of the peer removed" --since "$t0") s after the kill"
for phase in ingest remove; do
  echo "== $phase ($tag): top symbols, self time"
  perf report -i "$OUT/$phase-$tag.data" --no-children --stdio --percent-limit 2 -g none 2>/dev/null |
    grep -E '^ +[0-9]' | sed 's/  */ /g' | cut -c1-150
done
nvabgp_stop
