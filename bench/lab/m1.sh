#!/usr/bin/env bash
# M1 footprint and start-up: IMPL in the NVA namespace with two multihop eBGP sessions to the two
# Route Server stand-ins (two passive BIRD processes on 10.1.1.4 / 10.1.1.5, see rsbird_start).
# No routes exchanged.  tcpdump runs on rs0 (RS side) for the start-up milestones on the wire.
# Usage: m1.sh IMPL [RUNS]        env: IDLE=10 (RSS sample) CPU_WINDOW=30 (idle CPU window, s)
#
# t0        = the daemon's start.  nvabgp: $D/t_exec, written inside the namespace by the shell that
#             then execs nvabgp (the process start as a service manager does it); t_wrap_s = the
#             time `ip netns exec` and that shell took before it (not nvabgp's).  Other impls: just
#             before IMPL_start, wrappers included (their config generation and `ip netns exec`,
#             a few ms, are irrelevant at their seconds).
# t_est_poll= first poll (every 50 ms) with IMPL_established = 2 (resolution 50 ms + CLI cost)
# t_syn / t_open / t_est_wire = first SYN / first OPEN sent by the NVA / both handshakes complete
#             (last of the two KEEPALIVEs of each session, later session), from the capture
# t_est_log = nvabgp only: its own log, second "session established" line (microseconds);
#             t_log_first / t_log_connect: its first log line (runtime up, BGP listener bound) and
#             its first "to=Connect" (the first session starts): where start-up time goes
# rss_kb    = VmRSS of IMPL_pids IDLE s after Established (comparable with RESULTS.md)
# cpu_ms    = CPU time (schedstat, ns) of IMPL_pids over CPU_WINDOW s of idle, starting 1 s after
#             Established; hwm_kb = VmHWM (peak RSS) at the end; breakdown = anon/file/heap/PSS of
#             the first pid (smaps); raw/m1/IMPL-RUN.smaps.txt = resident kB per mapping
# ws_kb     = "working set": VmRSS 3 s after asking the kernel to page out the processes' file-backed
#             pages (pageout.py, process_madvise MADV_PAGEOUT) at the end of the CPU window: the
#             code the idle daemon really keeps using, without pages touched once at start-up
set -u
LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
. "$LAB/lib.sh"; . "$LAB/impls.sh"
IMPL=$1; RUNS=${2:-3}; IDLE=${IDLE:-10}; CPU_WINDOW=${CPU_WINDOW:-30}
[ "$CPU_WINDOW" -gt "$IDLE" ] || CPU_WINDOW=$((IDLE + 1))
impl_exists "$IMPL" || { echo "unknown impl $IMPL" >&2; exit 2; }
mkdir -p "$RES/raw/m1"
CSV=$RES/m1.csv
[ -s "$CSV" ] || echo "impl,run,t_est_poll_s,t_syn_s,t_open_s,t_est_wire_s,t_est_log_s,t_log_first_s,t_log_connect_s,t_wrap_s,rss_kb,rss_end_kb,hwm_kb,ws_kb,cpu_ms,cpu_window_s,rss_detail,breakdown,note" >"$CSV"
est_ge() { [ "$("${IMPL}_established" 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
jq_() { jq -r "$1 // empty" 2>/dev/null; }
rel() { [ -n "$1" ] && [ "$1" != null ] && fsub "$1" "$2" || echo NA; }

for ((r = 1; r <= RUNS; r++)); do
  ri=$(( $(grep -c "^$IMPL," "$CSV") + 1 ))   # run number across invocations (file names, csv)
  log "M1 $IMPL run $r/$RUNS (#$ri)"
  topo up || exit 1
  rm -rf "$RUN"; mkdir -p "$RUN"
  rsbird_start || { log "rs bird failed"; exit 1; }
  PCAP=$RES/raw/m1/$IMPL-$ri.pcap
  capture_start "$NS_RS" rs0 "$PCAP"
  export D=$RUN/$IMPL PEERS="$RS_IPS" ROLE=recv KERNEL=0
  t0=$(now)
  "${IMPL}_start"
  boost $("${IMPL}_pids")
  t_wrap=NA
  if [ -f "$D/t_fork" ]; then
    wait_until 5 0.005 test -s "$D/t_exec"
    t0=$(cat "$D/t_exec"); t_wrap=$(fsub "$t0" "$(cat "$D/t_fork")")
  fi
  note=""
  if wait_until 150 0.05 est_ge 2; then
    t_est=$(fsub "$(now)" "$t0")
  else
    t_est=NA; note="not established after 150s"
  fi
  pids=$("${IMPL}_pids")
  sleep 1
  c0=$(cpu_ns $pids); tc0=$(now)
  sleep $((IDLE - 1))
  rss=$(rss_kb $pids); rssd=$(rss_detail $pids)
  if [ "$IMPL" = exabgp ]; then rssd="$rssd +api_helper:$(rss_detail $(exabgp_helper_pids))"; fi
  sleep $((CPU_WINDOW - IDLE + 1))
  c1=$(cpu_ns $pids); tc1=$(now)
  rss_end=$(rss_kb $pids); hwm=$(hwm_kb $pids)
  bd=$(rss_breakdown $(echo $pids | awk '{print $1}'))
  for p in $pids; do echo "== $(cat /proc/$p/comm 2>/dev/null) $p"; smaps_by_mapping "$p"; done >"$RES/raw/m1/$IMPL-$ri.smaps.txt"
  $PY "$LAB/pageout.py" $pids >/dev/null || note="$note pageout-failed"
  sleep 3
  ws=$(rss_kb $pids)
  cpu_ms=$($PY -c "print('%.3f' % (($c1 - $c0) / 1e6))")
  win=$(fsub "$tc1" "$tc0")
  t_log=NA; t_log_first=NA; t_log_connect=NA
  if [ "$IMPL" = nvabgp ]; then
    t_log=$($PY "$LAB/logtimes.py" "$D/nvabgp.log" "session established" --nth 2 --since "$t0")
    t_log_first=$($PY "$LAB/logtimes.py" "$D/nvabgp.log" "Z " --since "$t0")
    t_log_connect=$($PY "$LAB/logtimes.py" "$D/nvabgp.log" "to=Connect" --since "$t0")
    cp "$D/nvabgp.log" "$RES/raw/m1/$IMPL-$ri.log"
  fi
  "${IMPL}_stop"
  capture_stop
  W=$($PY "$LAB/wire.py" "$PCAP" --local "$NVA_IP" --expect "$RS_IPS")
  echo "$W" >"$RES/raw/m1/$IMPL-$ri.wire.json"
  t_syn=$(rel "$(echo "$W" | jq_ .first_syn)" "$t0")
  t_open=$(rel "$(echo "$W" | jq_ .first_open_tx)" "$t0")
  t_wire=$(rel "$(echo "$W" | jq_ .all_established)" "$t0")
  echo "$IMPL,$ri,$t_est,$t_syn,$t_open,$t_wire,$t_log,$t_log_first,$t_log_connect,$t_wrap,$rss,$rss_end,$hwm,$ws,$cpu_ms,$win,$rssd,$bd,$note" | tee -a "$CSV"
  rsbird_stop
  topo down
done
