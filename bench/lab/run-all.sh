#!/usr/bin/env bash
# The peer-session benchmarks of nvabgp, side by side with BIRD, FRR, GoBGP and ExaBGP in the same
# run (the anchors are re-measured, never copied), bounded to BUDGET seconds (default 900 = 15 min;
# every step also has its own timeout).  Results: $RES/*.csv, $RES/summary.md, raw data in
# $RES/raw/.  Runs of nvabgp and of its main reference (BIRD) alternate, so that load from other
# work on the machine hits both alike.
#
#   M2 ingest   1M and 100k prefixes from feeder.py -> RIB (no kernel): nvabgp, BIRD with kernel
#               export off, FRR bgpd --no_kernel, GoBGP (+ ExaBGP at 100k)
#   M1 idle     two Established sessions to two RS BIRDs: start-up milestones, RSS, CPU over 30 s
#   M4 kill     SIGKILL of the peer -> routes gone (nvabgp and BIRD at 10, 100k and 1M prefixes;
#               FRR, GoBGP at 10)
#   sink        feeder -> python sink (the feeder is not the bottleneck)
#   2rs         M2 and M4 again with two Route Servers announcing the same prefixes (Azure's case:
#               every prefix has two paths), nvabgp and BIRD, 100k and 1M; last, so that a run
#               short of budget drops these first
# Override counts with env, e.g.  RUNS=5 RUNS_REF=1 BUDGET=1200 bash run-all.sh
set -u
LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
. "$LAB/lib.sh"
RUNS=${RUNS:-3}            # nvabgp and BIRD (the main comparison): runs per measurement
RUNS_REF=${RUNS_REF:-1}    # FRR, GoBGP, ExaBGP: their figures are seconds; one run each
M4_RUNS=${M4_RUNS:-5}
BUDGET=${BUDGET:-900}
# Niceness for the measurement: every step runs at it, and the daemons under test and the feeders,
# each in its own session, get it as their scheduler autogroup's niceness (`boost`, lib.sh), all
# alike: on a shared machine other work (compilers, tests) then takes less CPU from the
# measurement.  NICE=0 measures as everything else runs.
NICE=${NICE:--10}
START=$(now_us)
elapsed() { echo $(( ($(now_us) - START) / 1000000 )); }
export NICE
trap 'lab_cleanup >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM

cpu_busy() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }   # busy idle (ticks)
step() {   # step MAX_S CMD... : run with a timeout, never past the global budget; log machine load
  local max=$1; shift
  local left=$(( BUDGET - $(elapsed) ))
  if [ "$left" -le 20 ]; then log "SKIP (budget exhausted): $*"; echo "$*" >>"$RES/skipped.txt"; return; fi
  [ "$max" -gt "$left" ] && max=$left
  local b0 i0 b1 i1 t0=$(now) rc=0
  read -r b0 i0 < <(cpu_busy)
  nice -n "$NICE" timeout -k 10 "$max" "$@" || { rc=$?; log "step ended rc=$rc: $*"; }
  read -r b1 i1 < <(cpu_busy)
  echo "\"$*\",$(fsub "$(now)" "$t0"),$rc,$(awk -v b=$((b1 - b0)) -v i=$((i1 - i0)) 'BEGIN {printf "%.2f", (b + i) ? 2 * b / (b + i) : 0}'),$(cut -d' ' -f1 /proc/loadavg)" >>"$RES/steps.csv"
  lab_cleanup >/dev/null 2>&1    # in case a timeout left daemons behind
}

mkdir -p "$RES"
rm -rf "$RES"/m1.csv "$RES"/m2.csv "$RES"/m2-sink.csv "$RES"/m4.csv "$RES"/skipped.txt "$RES"/steps.csv "$RES"/raw
mkdir -p "$RES/raw"
echo "step,seconds,rc,cores_busy_during_step,loadavg_1min_after" >"$RES/steps.csv"
lab_cleanup >/dev/null 2>&1
[ -x "$NVABGP" ] || { log "no nvabgp binary at $NVABGP: cargo build-static -p nvabgp --bin nvabgp"; exit 1; }
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command: ${RUN_COMMAND:-bash bench/lab/run-all.sh} (RUNS=$RUNS RUNS_REF=$RUNS_REF M4_RUNS=$M4_RUNS BUDGET=$BUDGET NICE=$NICE)"
  echo "kernel: $(uname -r)"
  echo "nproc: $(nproc)"
  echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "mem: $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "loadavg_before: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -n "${NVABGP_REV:-}" ]; then
    echo "nvabgp: commit $(git -C "$ROOT" rev-parse --short "$NVABGP_REV") exactly (git archive), binary $NVABGP built $(date -u -r "$NVABGP" +%Y-%m-%dT%H:%M:%SZ)"
  else
    echo "nvabgp: working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- src bgp-proto Cargo.toml 2>/dev/null || echo ' + uncommitted changes'), binary $NVABGP built $(date -u -r "$NVABGP" +%Y-%m-%dT%H:%M:%SZ)"
    echo "uncommitted: $(git -C "$ROOT" status --short -- src bgp-proto Cargo.toml Cargo.lock 2>/dev/null | tr '\n' ' ')"
  fi
  echo "rustc: $(rustc --version 2>/dev/null)"
  echo "bird: $(bird --version 2>&1 | head -1)"
  echo "frr: $(/usr/lib/frr/bgpd --version 2>&1 | head -1)"
  echo "gobgp: $(gobgpd --version 2>&1 | head -1)"
  echo "exabgp: $(exabgp --version 2>&1 | grep -m1 -i 'exabgp')"
  echo "python: $($PY --version 2>&1)"
  topo up >/dev/null 2>&1
  local_t0=$(now); ip netns exec "$NS_NVA" true; echo "ip_netns_exec_overhead_s: $(fsub "$(now)" "$local_t0")"
  topo down >/dev/null 2>&1
} >"$RES/env.txt" 2>&1

log "=== M2 ingest 1M (elapsed $(elapsed)s)"
for ((r = 1; r <= RUNS; r++)); do
  step 90 env MAXWAIT=60 KERNEL=0 bash "$LAB/m2.sh" nvabgp 1000000 1
  step 90 env MAXWAIT=60 KERNEL=0 LABEL=bird-nokernel bash "$LAB/m2.sh" bird 1000000 1
done
step 120 env MAXWAIT=90 KERNEL=0 LABEL=frr-nokernel bash "$LAB/m2.sh" frr 1000000 "$RUNS_REF"
step 150 env MAXWAIT=120 bash "$LAB/m2.sh" gobgp 1000000 "$RUNS_REF"
log "=== M2 ingest 100k (elapsed $(elapsed)s)"
for ((r = 1; r <= RUNS; r++)); do
  step 60 env MAXWAIT=30 KERNEL=0 bash "$LAB/m2.sh" nvabgp 100000 1
  step 60 env MAXWAIT=30 KERNEL=0 LABEL=bird-nokernel bash "$LAB/m2.sh" bird 100000 1
done
step 60 env MAXWAIT=30 KERNEL=0 LABEL=frr-nokernel bash "$LAB/m2.sh" frr 100000 "$RUNS_REF"
step 60 env MAXWAIT=30 bash "$LAB/m2.sh" gobgp 100000 "$RUNS_REF"
step 60 env MAXWAIT=30 bash "$LAB/m2.sh" exabgp 100000 "$RUNS_REF"
log "=== M2 control: feeder -> python sink (elapsed $(elapsed)s)"
step 60 bash "$LAB/m2-sink.sh" 1000000 1
log "=== M1 idle footprint and start-up (elapsed $(elapsed)s)"
for ((r = 1; r <= RUNS; r++)); do
  step 80 bash "$LAB/m1.sh" nvabgp 1
  step 80 bash "$LAB/m1.sh" bird 1
done
for i in frr gobgp exabgp; do step 80 bash "$LAB/m1.sh" "$i" "$RUNS_REF"; done
log "=== M4 peer killed (elapsed $(elapsed)s)"
step 120 env PREFIXES=10 bash "$LAB/m4.sh" nvabgp kill "$M4_RUNS"
step 90 env PREFIXES=100000 bash "$LAB/m4.sh" nvabgp kill 2
step 90 env PREFIXES=1000000 bash "$LAB/m4.sh" nvabgp kill 1
step 60 env PREFIXES=10 bash "$LAB/m4.sh" bird kill "$RUNS"
step 60 env PREFIXES=100000 bash "$LAB/m4.sh" bird kill 1
step 90 env PREFIXES=1000000 bash "$LAB/m4.sh" bird kill 1
for i in frr gobgp; do step 60 env PREFIXES=10 bash "$LAB/m4.sh" "$i" kill "$RUNS_REF"; done
log "=== Two Route Servers announcing the same prefixes (elapsed $(elapsed)s)"
for n in 100000 1000000; do
  step 90 env MAXWAIT=60 TWO_RS=1 KERNEL=0 LABEL=nvabgp-2rs bash "$LAB/m2.sh" nvabgp "$n" 1
  step 90 env MAXWAIT=60 TWO_RS=1 KERNEL=0 LABEL=bird-nokernel-2rs bash "$LAB/m2.sh" bird "$n" 1
  step 90 env TWO_RS=1 PREFIXES="$n" LABEL=nvabgp-2rs bash "$LAB/m4.sh" nvabgp kill 1
  step 90 env TWO_RS=1 PREFIXES="$n" LABEL=bird-2rs bash "$LAB/m4.sh" bird kill 1
done
echo "loadavg_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/env.txt"
echo "elapsed_s: $(elapsed)" >>"$RES/env.txt"
$PY "$LAB/summarize.py" "$RES" | tee "$RES/summary.md"
log "=== done in $(elapsed)s"
