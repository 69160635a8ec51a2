#!/usr/bin/env bash
# Kernel install benchmark, all in one run on this machine:
#   floor  - a minimal batched netlink writer (1024 requests per sendmsg, every ACK checked),
#            routes written in ascending order
#   floornh- the same with routes on one kernel nexthop object, withdrawn by deleting it
#   floorbest, floornhbest - the same two written the way the kernel takes fastest: in
#            bit-reversed address order, NLM_F_ACK only on the last request of a sendmsg
#   floornhlisten - floornhbest with another socket subscribed to route notifications
#   nvabgplisten  - nvabgp likewise (on a VM, systemd-networkd and the like subscribe)
#   nvabgp - nvabgp's kernel module (src/kernel): N set() calls, then flush(); N withdrawals
#   bird   - BIRD 2: a static protocol of N routes exported by a kernel protocol; timed from
#            `birdc enable` until the kernel table holds N (and from `birdc disable` until 0)
# plus the latency from one set() to its RTM_NEWROUTE on a monitor socket.
#
# Each implementation gets a fresh namespace pair (the lab's NVA side):
#   kb-PID (nva0 10.1.2.4/24) <-- veth --> kb-PID-vr (vr0 10.1.2.1/24)
# Routes: N /24s from 11.0.0.0 via 10.1.2.1, table main. Kernel counts come from
# /proc/net/fib_triestat (as /work/shared/lab does), polled every 0.1 s.
#
# Usage: sudo bash bench/kernel/run.sh            (N=1000000 RUNS=1 LAT=1000 by default)
#        N=100000 RUNS=3 bash bench/kernel/run.sh
# Root only. Every loop is bounded; every process is stopped by PID; the namespaces go on exit.
set -euo pipefail

N=${N:-1000000}
RUNS=${RUNS:-1}
LAT=${LAT:-1000}
MAXWAIT=${MAXWAIT:-300}          # seconds, per measured phase
IMPLS=${IMPLS:-"floor floornh floorbest floornhbest floornhlisten nvabgp nvabgplisten bird"}
SKIP_BUILD=${SKIP_BUILD:-0}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${TARGET:-$ROOT/target/kernel-bench}
BIN=$TARGET/release/kernel-bench
OUT=${OUT:-$HERE/results}
RUN=$(mktemp -d /tmp/kernel-bench.XXXXXX)
NS=kb-$$
VR=kb-$$-vr
BIRD_PID=

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespaces)" >&2; exit 1; }
command -v bird >/dev/null || { echo "run.sh: BIRD 2 is missing (apt-get install bird2)" >&2; exit 1; }
mkdir -p "$OUT"
RESULT=$OUT/kernel-$(date +%Y%m%d-%H%M%S).txt

log() { echo "[$(date +%T)] $*" >&2; }

cleanup() {
  if [ -n "$BIRD_PID" ] && kill -0 "$BIRD_PID" 2>/dev/null; then
    kill "$BIRD_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$BIRD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BIRD_PID" 2>/dev/null || true
  fi
  BIRD_PID=
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$VR" 2>/dev/null || true
}
trap 'cleanup; rm -rf "$RUN"' EXIT

topo_up() {
  cleanup
  ip netns add "$NS"
  ip netns add "$VR"
  ip -n "$NS" link add name nva0 type veth peer name vr0 netns "$VR"
  ip -n "$NS" addr add 10.1.2.4/24 dev nva0
  ip -n "$NS" link set nva0 up
  ip -n "$NS" link set lo up
  ip -n "$VR" addr add 10.1.2.1/24 dev vr0
  ip -n "$VR" link set vr0 up
}

# Prefixes in table main (cheap even at 1M routes; `ip route | wc -l` takes seconds).
fib_main() {
  ip netns exec "$NS" cat /proc/net/fib_triestat |
    awk '$0=="Main:" {f=1; next} /^[A-Z]/ {f=0} f && /Prefixes:/ {print $2; exit}' | { read -r n; echo "${n:-0}"; }
}

# wait_count CMP TARGET START_EPOCH: poll until fib_main CMP TARGET; prints seconds since START.
wait_count() {
  local cmp=$1 target=$2 t0=$3 end=$((SECONDS + MAXWAIT)) c
  while [ $SECONDS -lt $end ]; do
    c=$(fib_main)
    if [ "$c" "$cmp" "$target" ]; then
      python3 -c "import sys,time; print('%.3f' % (time.time() - float(sys.argv[1])))" "$t0"
      return 0
    fi
    sleep 0.1
  done
  echo "timeout"
  return 1
}

build() {
  log "building the benchmark binary (release)"
  (cd "$HERE" && cargo build --release --quiet --target-dir "$TARGET")
}

run_floor() {
  topo_up
  ip netns exec "$NS" "$BIN" floor "$N"
}

# The same writer with routes on a kernel nexthop object (as nvabgp and FRR install them),
# withdrawn by deleting the object: the kernel's floor for that way of installing.
run_floornh() {
  topo_up
  ip -n "$NS" nexthop add id 1 via 10.1.2.1 dev nva0
  FLOOR_NHID=1 ip netns exec "$NS" "$BIN" floor "$N"
}

# The kernel's fastest way: bit-reversed order, one acknowledgement per sendmsg.
run_floorbest() {
  topo_up
  FLOOR_ORDER=bitrev FLOOR_ACK=last ip netns exec "$NS" "$BIN" floor "$N"
}

run_floornhbest() {
  topo_up
  ip -n "$NS" nexthop add id 1 via 10.1.2.1 dev nva0
  FLOOR_NHID=1 FLOOR_ORDER=bitrev FLOOR_ACK=last ip netns exec "$NS" "$BIN" floor "$N"
}

# With another subscriber to route notifications, dropping all it is sent.
run_floornhlisten() {
  topo_up
  ip -n "$NS" nexthop add id 1 via 10.1.2.1 dev nva0
  FLOOR_NHID=1 FLOOR_ORDER=bitrev FLOOR_ACK=last FLOOR_LISTEN=filtered \
    ip netns exec "$NS" "$BIN" floor "$N"
}

run_nvabgplisten() {
  topo_up
  NVABGP_LISTEN=filtered ip netns exec "$NS" "$BIN" nvabgp "$N"
}

run_nvabgp() {
  topo_up
  ip netns exec "$NS" "$BIN" nvabgp "$N"
}

run_latency() {
  topo_up
  ip netns exec "$NS" "$BIN" latency "$LAT"
}

run_bird() {
  topo_up
  local d=$RUN/bird
  mkdir -p "$d"
  if [ ! -s "$RUN/routes-$N.conf" ]; then
    python3 -c "
import sys
n = int(sys.argv[1])
with open(sys.argv[2], 'w') as f:
    for i in range(n):
        a = (11 << 24) + (i << 8)
        f.write('route %d.%d.%d.0/24 via 10.1.2.1;\n' % (a >> 24, (a >> 16) & 255, (a >> 8) & 255))
" "$N" "$RUN/routes-$N.conf"
  fi
  cat >"$d/bird.conf" <<EOF
log "$d/bird.log" { warning, error, fatal };
router id 10.1.2.4;
protocol device { scan time 60; }
protocol kernel k4 {
  ipv4 { export all; import none; };
  scan time 3600;
  metric 20;
}
protocol static feed {
  ipv4;
  disabled;
  include "$RUN/routes-$N.conf";
}
EOF
  local base t0 add del
  base=$(fib_main)
  ip netns exec "$NS" bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid"
  for _ in $(seq 600); do [ -s "$d/bird.pid" ] && break; sleep 0.1; done
  BIRD_PID=$(cat "$d/bird.pid")
  # Ready once the (large) config is read and the control socket answers.
  for _ in $(seq 1200); do birdc -s "$d/bird.ctl" show status 2>/dev/null | grep -q "Daemon is up" && break; sleep 0.1; done
  t0=$(python3 -c 'import time; print(time.time())')
  birdc -s "$d/bird.ctl" enable feed >/dev/null
  add=$(wait_count -ge $((base + N)) "$t0")
  t0=$(python3 -c 'import time; print(time.time())')
  birdc -s "$d/bird.ctl" disable feed >/dev/null
  del=$(wait_count -le "$base" "$t0")
  echo "impl=bird n=$N add_s=$add del_s=$del"
  cleanup
}

[ "$SKIP_BUILD" = 1 ] || build
{
  echo "# kernel install benchmark $(date -Is), N=$N RUNS=$RUNS, $(uname -r), $(nproc) CPUs, $(bird --version 2>&1 | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
  for r in $(seq "$RUNS"); do
    # The three in turn within each run, so a change in the machine's load
    # (other jobs share these 2 cores) hits all of them alike.
    for impl in $IMPLS; do
      log "run $r/$RUNS: $impl"
      "run_$impl"
    done
  done
  if [ "$LAT" -gt 0 ]; then
    log "latency: $LAT single routes"
    run_latency
  fi
} | tee "$RESULT"

python3 - "$RESULT" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("impl="):
        continue
    kv = dict(x.split("=", 1) for x in line.split())
    rows.setdefault(kv["impl"], []).append(kv)
def med(impl, key):
    vals = [float(r[key]) for r in rows.get(impl, []) if re.match(r"^[0-9.]+$", r.get(key, ""))]
    return statistics.median(vals) if vals else float("nan")
print()
print("| | add N routes (s) | withdraw N (s) |")
print("|---|---|---|")
impls = ("floor", "floor-nhid", "floor-bitrev-lastack", "floor-nhid-bitrev-lastack",
         "floor-nhid-bitrev-lastack-listenfiltered", "nvabgp", "nvabgp-listenfiltered", "bird")
for impl in impls:
    if impl in rows:
        print(f"| {impl} | {med(impl, 'add_s'):.2f} | {med(impl, 'del_s'):.2f} |")
f, n, b = (med(i, "add_s") for i in ("floor", "nvabgp", "bird"))
fd, nd, bd = (med(i, "del_s") for i in ("floor", "nvabgp", "bird"))
print(f"\nnvabgp vs BIRD: add {b / n:.2f}x faster, withdraw {bd / nd:.2f}x faster")
print(f"nvabgp vs floor: add {n / f:.2f}x the floor, withdraw {nd / fd:.2f}x the floor")
fh, fhd = med("floor-nhid", "add_s"), med("floor-nhid", "del_s")
print(f"nvabgp vs floor-nhid: add {n / fh:.2f}x, withdraw {nd / fhd:.2f}x")
fb, fbd = med("floor-nhid-bitrev-lastack", "add_s"), med("floor-nhid-bitrev-lastack", "del_s")
print(f"nvabgp vs the fastest floor (floor-nhid-bitrev-lastack): add {n / fb:.2f}x, withdraw {nd / fbd:.2f}x")
fl, nl = med("floor-nhid-bitrev-lastack-listenfiltered", "add_s"), med("nvabgp-listenfiltered", "add_s")
print(f"with another subscriber: nvabgp add {nl:.2f} s = {b / nl:.2f}x faster than BIRD, {nl / fl:.2f}x that floor")
for r in rows.get("nvabgp-latency", []):
    print(f"set() -> kernel: median {r['median_us']} us, p99 {r['p99_us']} us, max {r['max_us']} us (n={r['n']})")
EOF
