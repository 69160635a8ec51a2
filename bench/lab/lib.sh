# Common helpers for the lab scripts.  Source it:  . "$LAB/lib.sh"
# All loops here are bounded in time; all process control is by PID.
#
# nvabgp's copy of /work/shared/lab/lib.sh.  Differences: its own namespace names (nb-*) and FRR
# path space, so it never touches a shared lab run; results under bench/results; CPU time from
# schedstat (nanoseconds) and peak RSS (VmHWM) helpers; the nvabgp binary location.

LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
ROOT=${ROOT:-$(cd "$LAB/../.." && pwd)}          # the project root (cargo workspace)
RUN=${RUN:-$LAB/run}            # runtime state (configs, logs, sockets) - recreated per experiment
RES=${RES:-$ROOT/bench/results} # results: csv + summary (committed), raw/ (timelines, logs, pcaps: ignored)
NS_NVA=${NS_NVA:-nb-nva}
NS_VR=${NS_VR:-nb-vr}
NS_RS=${NS_RS:-nb-rs}
NVA_IP=10.1.2.4
RS_IPS="10.1.1.4 10.1.1.5"
NVA_AS=65001
RS_AS=65515
PY=/usr/bin/python3             # system python (the pyenv shim costs ~200 ms per start)
# The deployment build (`cargo build-static`, see .cargo/config.toml) when there is one, else the
# plain release build.
if [ -z "${NVABGP:-}" ]; then
  NVABGP=$ROOT/target/x86_64-unknown-linux-gnu/release/nvabgp
  [ -x "$NVABGP" ] || NVABGP=$ROOT/target/release/nvabgp
fi
FRR_PS=${FRR_PS:-nbnva}         # FRR path space (-N): /var/run/frr/$FRR_PS
export LAB ROOT RUN RES NS_NVA NS_VR NS_RS PY NVABGP FRR_PS
mkdir -p "$RUN" "$RES/raw"

now() { echo "$EPOCHREALTIME"; }                        # seconds.micros, same clock as time.time()
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
log() { echo "[$(date +%T)] $*" >&2; }
fsub() { $PY -c "import sys; print('%.4f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$1" "$2"; }

alive() {   # alive PID : true if the process exists and is not a zombie
  [ -n "${1:-}" ] && [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

_status_kb() {  # _status_kb FIELD PID... : sum of a /proc/PID/status kB field
  local f=$1 s=0 p v; shift
  for p in "$@"; do
    v=$(awk -v f="$f:" '$1==f {print $2}' "/proc/$p/status" 2>/dev/null)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}
rss_kb() { _status_kb VmRSS "$@"; }   # current resident set, summed
hwm_kb() { _status_kb VmHWM "$@"; }   # peak resident set ("high water mark"), summed per process

# recache_file FILE... : evicts the files' pages from the page cache (posix_fadvise DONTNEED; pages
# some process maps stay), then reads them back through a read-only mapping, one touch per page.
# Before a daemon starts, so that its executable sits in the page cache as it does once a boot has
# run it (4 kB pages, read through faults) rather than in the large folios that the linker's or
# cp's writes leave: the kernel maps a whole large folio at a fault, so the same binary would show
# more resident code (e.g. 4.19 MB instead of 3.93 MB of a 4.9 MB text).  The pages are in memory
# again, so start-up times stay warm-cache times.
recache_file() {
  $PY -c 'import mmap, os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    size = os.fstat(fd).st_size
    if size:
        m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        sum(m[i] for i in range(0, size, mmap.PAGESIZE))
        m.close()
    os.close(fd)' "$@" 2>/dev/null || true
}

rss_detail() {  # rss_detail PID... : "comm=kB comm=kB"
  local p out=""
  for p in "$@"; do
    out+="$(cat /proc/$p/comm 2>/dev/null)=$(awk '/^VmRSS:/{print $2}' /proc/$p/status 2>/dev/null) "
  done
  echo "${out% }"
}

# rss_breakdown PID : "anon=kB file=kB brk_heap=kB pss=kB pss_anon=kB" from status / smaps /
# smaps_rollup.  anon = private anonymous memory (heap, malloc arenas, thread stacks), file = mapped
# binary and libraries (clean page cache, shared with other processes where they map it too),
# pss = proportional set size (shared pages divided among the processes mapping them).
rss_breakdown() {
  local p=$1 a f h ps pa
  a=$(awk '/^RssAnon:/ {print $2; exit}' "/proc/$p/status" 2>/dev/null)
  f=$(awk '/^RssFile:/ {print $2; exit}' "/proc/$p/status" 2>/dev/null)
  h=$(awk '/\[heap\]/ {f=1; next} /^[0-9a-f]+-[0-9a-f]+ / {f=0} f && /^Rss:/ {s+=$2} END {print s+0}' "/proc/$p/smaps" 2>/dev/null)
  ps=$(awk '/^Pss:/ {print $2; exit}' "/proc/$p/smaps_rollup" 2>/dev/null)
  pa=$(awk '/^Pss_Anon:/ {print $2; exit}' "/proc/$p/smaps_rollup" 2>/dev/null)
  echo "anon=${a:-0} file=${f:-0} brk_heap=${h:-0} pss=${ps:-0} pss_anon=${pa:-0}"
}

# cpu_ns PID... : CPU time (user+system) consumed so far, in nanoseconds, summed over all threads
# (/proc/PID/task/*/schedstat field 1: time on CPU, ns resolution; utime/stime tick in 10 ms).
cpu_ns() {
  local s=0 p t v
  for p in "$@"; do
    for t in /proc/"$p"/task/*/schedstat; do
      read -r v _ <"$t" 2>/dev/null || continue
      s=$((s + v))
    done
  done
  echo "$s"
}

# wait_until TIMEOUT_S INTERVAL_S CMD... : run CMD until it succeeds; bounded by TIMEOUT_S.
wait_until() {
  local to=$1 iv=$2; shift 2
  local end=$(( $(now_us) + ${to%.*} * 1000000 ))
  while :; do
    "$@" && return 0
    [ "$(now_us)" -ge "$end" ] && return 1
    sleep "$iv"
  done
}

# kill_pid PID [GRACE_S] : SIGTERM, wait (bounded), then SIGKILL.  Only ever by PID.
kill_pid() {
  local p=$1 g=${2:-10} i
  alive "$p" || return 0
  kill "$p" 2>/dev/null
  for ((i = 0; i < g * 10; i++)); do alive "$p" || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  for ((i = 0; i < 50; i++)); do alive "$p" || return 0; sleep 0.1; done
}

# kernel route count of one table via /proc/net/fib_triestat (cheap; avoids dumping 1M routes)
# fib_prefixes NS TABLE   (TABLE = main | <id>)
fib_prefixes() {
  local ns=$1 t=$2 hdr
  if [ "$t" = main ] || [ "$t" = 254 ]; then hdr="Main:"; else hdr="Id $t:"; fi
  ip netns exec "$ns" cat /proc/net/fib_triestat 2>/dev/null |
    awk -v h="$hdr" '$0==h {f=1; next} /^[A-Z]/ {f=0} f && /Prefixes:/ {print $2; exit}' | { read -r n; echo "${n:-0}"; }
}

median() {  # median of the arguments (numbers)
  $PY -c "import sys,statistics as s; v=[float(x) for x in sys.argv[1:] if x not in ('','NA')]; print(('%.3f' % s.median(v)) if v else 'NA')" "$@"
}

topo() { bash "$LAB/topo.sh" "$@"; }

# tcpdump in a namespace, written to FILE; returns once tcpdump says it is listening.
# capture_start NS IFACE FILE  -> sets CAP_PID
capture_start() {
  local ns=$1 ifc=$2 f=$3
  rm -f "$f" "$f.err"
  ip netns exec "$ns" tcpdump -i "$ifc" -n -U --immediate-mode -Z root -s 256 -w "$f" 'tcp port 179' 2>"$f.err" &
  CAP_PID=$!
  wait_until 10 0.02 grep -qs listening "$f.err" || log "tcpdump in $ns did not start: $(cat "$f.err")"
}
capture_stop() { sleep 0.2; [ -n "${CAP_PID:-}" ] && kill_pid "$CAP_PID" 3; wait "$CAP_PID" 2>/dev/null; CAP_PID=; }

# JSON event helpers for feeder.py --status files
jev() {  # jev FILE EVENT FIELD : print FIELD of the first EVENT record (empty if none)
  $PY - "$1" "$2" "$3" <<'EOF'
import json, sys
f, e, k = sys.argv[1:4]
try:
    for line in open(f):
        r = json.loads(line)
        if r.get("ev") == e:
            print(r.get(k, "")); break
except FileNotFoundError:
    pass
EOF
}
has_ev() { grep -q "\"ev\": \"$2\"" "$1" 2>/dev/null; }

# lab_cleanup: stop every process still running inside OUR lab namespaces (by PID, found with
# `ip netns pids`), then delete the namespaces.  Used on exit/timeout by run-all.sh.
lab_cleanup() {
  local ns p
  for ns in "$NS_NVA" "$NS_VR" "$NS_RS"; do
    ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
  done
  sleep 1
  for ns in "$NS_NVA" "$NS_VR" "$NS_RS"; do
    ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$p" 5; done
  done
  bash "$LAB/topo.sh" down
  rm -rf "/var/run/frr/$FRR_PS"
}

# smaps_by_mapping PID : resident kB per mapping name (binary, each library, [heap], [stack],
# anonymous), largest first - the RSS breakdown kept next to the results.
smaps_by_mapping() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anonymous]" : $6); next}
       /^Rss:/ {rss[name] += $2}
       /^Anonymous:/ {anon[name] += $2}
       END {for (n in rss) if (rss[n] > 0) printf "%8d kB rss %8d kB anon  %s\n", rss[n], anon[n], n}' \
    "/proc/$1/smaps" 2>/dev/null | sort -rn
}

# runq_ns PID... : time spent runnable but waiting for a CPU (schedstat field 2), summed over all
# threads, in ns.  On a shared 2-core machine this says how much other work delayed the daemon.
runq_ns() {
  local s=0 p t v w
  for p in "$@"; do
    for t in /proc/"$p"/task/*/schedstat; do
      read -r v w _ <"$t" 2>/dev/null || continue
      s=$((s + w))
    done
  done
  echo "$s"
}

# boost PID... : set the scheduler autogroup niceness of the processes' sessions to $NICE (default
# 0: no change).  With kernel.sched_autogroup_enabled=1, `nice` only ranks processes within one
# session's group, and every daemon that daemonizes (BIRD, FRR) or is started with setsid (the
# others, see impls.sh) has its own group: this gives all of them, alike, priority over other work
# on a shared machine.  run-all.sh does the same for its own session (feeder, pollers, tcpdump).
# Only a session leader is changed (pid = session id, waited for up to 2 s): a process that has not
# reached its setsid yet still shares the caller's autogroup, which must stay untouched.
boost() {
  local p i
  [ "${NICE:-0}" = 0 ] && return 0
  for p in "$@"; do
    for ((i = 0; i < 100; i++)); do
      [ "$(awk '{print $6}' "/proc/$p/stat" 2>/dev/null)" = "$p" ] && break
      sleep 0.02
    done
    [ "$i" -lt 100 ] && echo "$NICE" >"/proc/$p/autogroup" 2>/dev/null
  done
  return 0
}
