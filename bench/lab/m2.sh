#!/usr/bin/env bash
# M2 ingest: feeder.py in the RS namespace (10.1.1.4, passive) announces N IPv4 prefixes to IMPL.
# Usage: m2.sh IMPL N [RUNS]   env: KERNEL=1 POLL=0.1 FASTPOLL=0.005 MAXWAIT=240 MIXED=0 LABEL=IMPL
#                                   SEND_DELAY=0.5 TWO_RS=0
# TWO_RS=1 (bird, nvabgp): a second feeder on 10.1.1.5 announces the same N prefixes, as Azure's two
# Route Servers do; "all in" is then 2N paths (nvabgp: prefixes_accepted summed over `neighbors`;
# BIRD: its Routes-imported sum), t0 the later feeder's first UPDATE.
# Per run: fresh topology, the feeder pre-encodes N prefixes (packed UPDATEs <= 4096 B), the
# receiver is started with one peer (10.1.1.4); t0 = the feeder's timestamp just before its first
# UPDATE write, SEND_DELAY s after the session is Established (the shared lab used 0; the delay
# lets the fast poller connect before t0 - it is checked: a poller whose first answer came after
# t0 is flagged "poller-late" - and lets every daemon finish its own post-Established work).
# Two ways to see "all N in":
#   impls with IMPL_ctl (bird, nvabgp): ctl.py keeps one control-socket connection and asks every
#     FASTPOLL s (default 5 ms) from right after IMPL_start; t_bgp = time of the first answer >= N
#   others: the shell polls IMPL_count every POLL s (0.1 s, as in RESULTS.md; vtysh+jq and the
#     gobgp CLI cost 25-50 ms per call)
# t_kernel = first poll where IMPL_kcount >= N (KERNEL=1 only).  1 s later: VmRSS, VmHWM (peak;
# summed per process for FRR's two daemons), CPU time of the daemon(s) since their start and the
# time they spent runnable but waiting for a CPU (schedstat: other work on the machine), smaps
# breakdown.  Appends to $RES/m2.csv; timelines go to $RES/raw/m2/LABEL-N-RUN.tl
set -u
LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
. "$LAB/lib.sh"; . "$LAB/impls.sh"
IMPL=$1; N=$2; RUNS=${3:-1}; LABEL=${LABEL:-$1}
POLL=${POLL:-0.1}; FASTPOLL=${FASTPOLL:-0.005}; MAXWAIT=${MAXWAIT:-240}; MIXED=${MIXED:-0}
SEND_DELAY=${SEND_DELAY:-0.5}; TWO_RS=${TWO_RS:-0}
impl_exists "$IMPL" || { echo "unknown impl $IMPL" >&2; exit 2; }
mkdir -p "$RES/raw/m2"
CSV=$RES/m2.csv
[ -s "$CSV" ] || echo "impl,n,run,t_bgp_s,t_kernel_s,poll,rss_kb,hwm_kb,cpu_s,runq_wait_s,rss_detail,breakdown,feeder_send_s,feeder_encode_s,kernel_routes_ip_route,bgp_count_final,note" >"$CSV"
has_ctl() { declare -F "${IMPL}_ctl" >/dev/null; }
if [ "$TWO_RS" = 1 ] && ! has_ctl; then echo "TWO_RS=1 needs the fast poller (bird, nvabgp)" >&2; exit 2; fi

for ((r = 1; r <= RUNS; r++)); do
  ri=$(( $(grep -c "^$LABEL,$N," "$CSV") + 1 ))   # run number across invocations (file names, csv)
  log "M2 $LABEL N=$N run $r/$RUNS (#$ri)"
  topo up || exit 1
  rm -rf "$RUN"; mkdir -p "$RUN"
  FJ=$RUN/feeder.json
  mixed=""; [ "$MIXED" = 1 ] && mixed=--mixed
  ip netns exec "$NS_RS" setsid $PY "$LAB/feeder.py" --listen 10.1.1.4 --prefixes "$N" $mixed --status "$FJ" \
    --send-delay "$SEND_DELAY" --lifetime $((MAXWAIT + 180)) >"$RUN/feeder.log" 2>&1 &
  FP=$!; boost "$FP"
  FP2=; peers=10.1.1.4; expect=$N; paths=
  if [ "$TWO_RS" = 1 ]; then
    ip netns exec "$NS_RS" setsid $PY "$LAB/feeder.py" --listen 10.1.1.5 --prefixes "$N" $mixed \
      --status "$RUN/feeder2.json" --send-delay "$SEND_DELAY" --lifetime $((MAXWAIT + 180)) \
      >"$RUN/feeder2.log" 2>&1 &
    FP2=$!; boost "$FP2"; peers="10.1.1.4 10.1.1.5"; expect=$((2 * N)); paths=--paths
    wait_until 120 0.1 has_ev "$RUN/feeder2.json" listening || log "second feeder not ready"
  fi
  wait_until 120 0.1 has_ev "$FJ" listening || { log "feeder not ready"; kill_pid $FP 2; continue; }
  export D=$RUN/$IMPL PEERS="$peers" ROLE=recv
  "${IMPL}_start"
  boost $("${IMPL}_pids")
  TL=$RES/raw/m2/$LABEL-$N-$ri.tl
  rm -f "$TL"
  POLLER=; late=0
  if has_ctl; then
    # The socket may not exist yet: ctl.py retries the connect (bounded by --timeout).
    $PY "$LAB/ctl.py" $("${IMPL}_ctl") until-count "$expect" $paths --timeout $((MAXWAIT + 90)) \
      --interval "$FASTPOLL" --timeline "$TL.abs" --t0 0 >"$RUN/poller.out" 2>"$RUN/poller.err" &
    POLLER=$!
    mode=ctl:$FASTPOLL
  else
    mode=cli:$POLL
  fi
  if ! wait_until 90 0.05 has_ev "$FJ" first_update; then
    log "session did not come up"; [ -n "$POLLER" ] && kill_pid "$POLLER" 1
    "${IMPL}_stop"; kill_pid $FP 2; topo down; continue
  fi
  t0=$(jev "$FJ" first_update t_first)
  if [ "$TWO_RS" = 1 ]; then
    # t0 = the LATER feeder's first UPDATE: implementations bring the two sessions up at different
    # times (BIRD: a jittered connect delay per session), which is not ingest work.
    wait_until 30 0.05 has_ev "$RUN/feeder2.json" first_update
    t0=$($PY -c "import sys; print(max(float(x) for x in sys.argv[1:] if x))" "$t0" "$(jev "$RUN/feeder2.json" first_update t_first)")
  fi
  t_bgp=NA; t_k=NA; kc=NA
  end=$(( $(now_us) + MAXWAIT * 1000000 ))
  if [ -n "$POLLER" ]; then
    # Only the kernel count (if any) is polled here; the fast poller times BGP.
    while [ "$(now_us)" -lt "$end" ]; do
      if [ "$KERNEL" = 1 ] && [ "$t_k" = NA ]; then
        kc=$("${IMPL}_kcount")
        [ "$kc" != NA ] && [ "${kc:-0}" -ge "$N" ] 2>/dev/null && t_k=$(fsub "$(now)" "$t0")
      fi
      if ! alive "$POLLER" && { [ "$KERNEL" != 1 ] || [ "$t_k" != NA ] || [ "$kc" = NA ]; }; then break; fi
      sleep "$POLL"
    done
    wait "$POLLER" 2>/dev/null
    found=$(cat "$RUN/poller.out" 2>/dev/null)
    [ -n "$found" ] && [ "$found" != NA ] && t_bgp=$(fsub "$found" "$t0")
    # timeline relative to t0
    awk -v t0="$t0" '/^#/ {print; next} {printf "%.4f %s\n", $1 - t0, $2}' "$TL.abs" >"$TL" 2>/dev/null
    rm -f "$TL.abs"
    first=$(awk '!/^#/ {print $1; exit}' "$TL")
    late=$(awk -v f="${first:-1}" 'BEGIN {print (f > 0) ? 1 : 0}')
  else
    echo "# t_rel count kcount" >"$TL"
    while [ "$(now_us)" -lt "$end" ]; do
      t=$(now)
      if [ "$t_bgp" = NA ]; then c=$("${IMPL}_count"); else c=$N; fi
      if [ "$KERNEL" = 1 ]; then kc=$("${IMPL}_kcount"); fi
      echo "$(fsub "$t" "$t0") $c $kc" >>"$TL"
      if [ "$t_bgp" = NA ] && [ "${c:-0}" -ge "$N" ] 2>/dev/null; then t_bgp=$(fsub "$t" "$t0"); fi
      if [ "$kc" != NA ] && [ "$t_k" = NA ] && [ "${kc:-0}" -ge "$N" ] 2>/dev/null; then t_k=$(fsub "$t" "$t0"); fi
      if [ "$t_bgp" != NA ] && { [ "$kc" = NA ] || [ "$t_k" != NA ]; }; then break; fi
      sleep "$POLL"
    done
  fi
  sleep 1
  pids=$("${IMPL}_pids")
  rss=$(rss_kb $pids); hwm=$(hwm_kb $pids); rssd=$(rss_detail $pids)
  bd=$(rss_breakdown $(echo $pids | awk '{print $1}'))
  for p in $pids; do echo "== $(cat /proc/$p/comm 2>/dev/null) $p"; smaps_by_mapping "$p"; done >"$RES/raw/m2/$LABEL-$N-$ri.smaps.txt"
  cpu_s=$($PY -c "print('%.3f' % ($(cpu_ns $pids) / 1e9))")
  runq_s=$($PY -c "print('%.3f' % ($(runq_ns $pids) / 1e9))")
  if [ "$IMPL" = exabgp ]; then rssd="$rssd +api_helper:$(rss_detail $(exabgp_helper_pids))"; fi
  send_s=$(jev "$FJ" sent_all send_s); enc_s=$(jev "$FJ" encoded encode_s)
  kroutes=NA
  if [ "$kc" != NA ] && [ "$KERNEL" = 1 ]; then
    case $IMPL in
      bird) kroutes=$(ip -n "$NS_NVA" route show table "$KTABLE" | wc -l) ;;
      *) kroutes=$(( $(ip -n "$NS_NVA" route show | wc -l) - 2 )) ;;   # minus connected + static
    esac
  fi
  cfinal=$("${IMPL}_count")
  note=""; [ "$t_bgp" = NA ] && note="timeout(${MAXWAIT}s)"
  [ -n "$POLLER" ] && [ "${late:-0}" = 1 ] && note="$note poller-late(first answer at +${first}s)"
  [ -n "$cfinal" ] && [ "$cfinal" != "$N" ] && [ "$cfinal" != "$expect" ] && note="$note final-count=$cfinal"
  echo "$LABEL,$N,$ri,$t_bgp,$t_k,$mode,$rss,$hwm,$cpu_s,$runq_s,$rssd,$bd,${send_s:0:6},${enc_s:0:5},$kroutes,$cfinal,${note# }" | tee -a "$CSV"
  cp "$FJ" "$RES/raw/m2/$LABEL-$N-$ri.feeder.json" 2>/dev/null
  [ -f "$D/nvabgp.log" ] && cp "$D/nvabgp.log" "$RES/raw/m2/$LABEL-$N-$ri.log"
  "${IMPL}_stop"
  kill_pid $FP 3; [ -n "$FP2" ] && kill_pid $FP2 3
  topo down
  sleep 1   # let the kernel free the namespace's routes before the next run
done
