#!/usr/bin/env bash
# M4 dead peer: how fast does IMPL drop the routes of a peer that dies?
# IMPL in the NVA namespace peers with feeder.py (10.1.1.4, --hold 9, PREFIXES routes).  Once the
# session is up and all routes are in, wait WARM s, then break the peer:
#   kill      : SIGKILL the feeder (its kernel closes the socket: FIN, or RST when our KEEPALIVEs
#               sit unread in its receive buffer, reaches the NVA at once)
#   linkdown  : ip -n $NS_RS link set rs0 down   (no FIN: the hold timer decides)
#   blackhole : blackhole 10.1.1.4/32 and 10.1.2.4/32 in the router namespace (silent loss)
# Usage: m4.sh IMPL "kill linkdown blackhole" [RUNS]   env: WARM=2 PREFIXES=10 LABEL=IMPL TWO_RS=0
# TWO_RS=1 (impls with IMPL_paths: nvabgp, bird): a second feeder on 10.1.1.5 announces the same
# prefixes, as Azure's two Route Server instances do; only the first is killed, so every prefix
# stays with one path left (the decision process runs for each).  "Routes gone" is then: the
# killed peer's paths are gone (nvabgp: its log line, or the sum of accepted paths back to N;
# BIRD: `show route protocol rsp1 count` = 0).
#
# Times (all relative to t_kill = the shell's clock just before `kill -9` / `ip link` / `ip route`):
#   t_fin_wire : first FIN/RST from 10.1.1.4 captured on nva0 in the NVA namespace (tcpdump)
#   t_down     : first shell poll (every 50 ms) with IMPL_established = 0      (resolution 50 ms)
#   t_gone     : impls with IMPL_ctl (bird, nvabgp): ctl.py, one control connection asked every
#                2 ms, first answer with 0 routes (resolution ~2 ms plus the answer's own latency;
#                for BIRD the answer is a walk of its table, `show route protocol rsp1 count`);
#                others: first shell poll with IMPL_count = 0 (50 ms)
#   t_gone_log : nvabgp only: its own log line "routes of the peer removed", timestamped after the
#                RIB removal, in microseconds (the primary figure; its method is in README.md)
#   gone_after_fin = t_gone_log (or t_gone) - t_fin_wire: the daemon's own reaction time
set -u
LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
. "$LAB/lib.sh"; . "$LAB/impls.sh"
IMPL=$1; MODES=${2:-kill}; RUNS=${3:-1}; WARM=${WARM:-2}; PREFIXES=${PREFIXES:-10}; LABEL=${LABEL:-$1}
TWO_RS=${TWO_RS:-0}
impl_exists "$IMPL" || { echo "unknown impl $IMPL" >&2; exit 2; }
mkdir -p "$RES/raw/m4"
CSV=$RES/m4.csv
[ -s "$CSV" ] || echo "impl,mode,prefixes,run,t_fin_wire_s,t_down_s,t_gone_s,gone_poll,t_gone_log_s,gone_after_fin_s,note" >"$CSV"
est_ge() { [ "$("${IMPL}_established" 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
cnt_ge() { [ "$("${IMPL}_count" 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
paths_ge() { [ "$("${IMPL}_paths" 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
has_ctl() { declare -F "${IMPL}_ctl" >/dev/null; }

for mode in $MODES; do
  for ((r = 1; r <= RUNS; r++)); do
    ri=$(( $(grep -c "^$LABEL,$mode,$PREFIXES," "$CSV") + 1 ))   # run number across invocations
    log "M4 $LABEL $mode prefixes=$PREFIXES run $r/$RUNS (#$ri)"
    topo up || exit 1
    rm -rf "$RUN"; mkdir -p "$RUN"
    FJ=$RUN/feeder.json
    ip netns exec "$NS_RS" setsid $PY "$LAB/feeder.py" --listen 10.1.1.4 --prefixes "$PREFIXES" --hold 9 \
      --status "$FJ" --lifetime 180 >"$RUN/feeder.log" 2>&1 &
    FP=$!; boost "$FP"
    FP2=; peers=10.1.1.4; npeers=1
    if [ "$TWO_RS" = 1 ]; then
      # The second Route Server announces the same prefixes (its own next hop), as Azure's pair does.
      ip netns exec "$NS_RS" setsid $PY "$LAB/feeder.py" --listen 10.1.1.5 --prefixes "$PREFIXES" --hold 9 \
        --status "$RUN/feeder2.json" --lifetime 180 >"$RUN/feeder2.log" 2>&1 &
      FP2=$!; boost "$FP2"; peers="10.1.1.4 10.1.1.5"; npeers=2
      wait_until 60 0.1 has_ev "$RUN/feeder2.json" listening
    fi
    wait_until 60 0.1 has_ev "$FJ" listening
    export D=$RUN/$IMPL PEERS="$peers" ROLE=recv HOLD=9 KEEPALIVE=3 KERNEL=0
    "${IMPL}_start"
    boost $("${IMPL}_pids")
    ready() { if [ "$TWO_RS" = 1 ]; then paths_ge $((2 * PREFIXES)); else cnt_ge "$PREFIXES"; fi; }
    if ! wait_until 60 0.1 est_ge "$npeers" || ! wait_until 90 0.1 ready; then
      log "not established"; "${IMPL}_stop"; kill_pid $FP 2; [ -n "$FP2" ] && kill_pid $FP2 2; topo down; continue
    fi
    PCAP=$RES/raw/m4/$LABEL-$mode-$PREFIXES-$ri.pcap
    capture_start "$NS_NVA" nva0 "$PCAP"
    POLLER=
    if has_ctl; then
      # BIRD: count its table, not the protocol's counter (which drops to 0 at session down, before
      # the routes are pruned).
      # With two RS, nvabgp's prefixes stay (the other RS has them): wait for the paths to halve.
      table=; [ "$IMPL" = bird ] && table=--table
      until=(until-zero); [ "$TWO_RS" = 1 ] && [ "$IMPL" != bird ] && until=(until-le "$PREFIXES" --paths)
      $PY "$LAB/ctl.py" $("${IMPL}_ctl") "${until[@]}" $table --timeout 40 --interval 0.002 \
        >"$RUN/poller.out" 2>"$RUN/poller.err" &
      POLLER=$!
    fi
    sleep "$WARM"
    t0=$(now)
    case $mode in
      kill) kill -9 "$FP" ;;
      linkdown) ip -n "$NS_RS" link set rs0 down ;;
      blackhole) ip -n "$NS_VR" route add blackhole 10.1.1.4/32; ip -n "$NS_VR" route add blackhole 10.1.2.4/32 ;;
    esac
    t_down=NA; t_gone=NA
    end=$(( $(now_us) + 30000000 ))
    while [ "$(now_us)" -lt "$end" ]; do
      if [ "$t_down" = NA ] && [ "$("${IMPL}_established")" -lt "$npeers" ] 2>/dev/null; then t_down=$(fsub "$(now)" "$t0"); fi
      if [ -z "$POLLER" ] && [ "$t_gone" = NA ] && [ "$("${IMPL}_count")" = 0 ]; then t_gone=$(fsub "$(now)" "$t0"); fi
      if [ -n "$POLLER" ] && ! alive "$POLLER"; then
        [ "$t_down" != NA ] && break
      fi
      [ -z "$POLLER" ] && [ "$t_down" != NA ] && [ "$t_gone" != NA ] && break
      sleep 0.05
    done
    gone_poll=cli:0.05
    if [ -n "$POLLER" ]; then
      kill_pid "$POLLER" 1; wait "$POLLER" 2>/dev/null
      found=$(cat "$RUN/poller.out" 2>/dev/null)
      [ -n "$found" ] && [ "$found" != NA ] && t_gone=$(fsub "$found" "$t0")
      gone_poll=ctl:0.002
    fi
    t_log=NA
    if [ "$IMPL" = nvabgp ]; then
      t_log=$($PY "$LAB/logtimes.py" "$D/nvabgp.log" "routes of the peer removed" --since "$t0")
      cp "$D/nvabgp.log" "$RES/raw/m4/$LABEL-$mode-$PREFIXES-$ri.log"
    fi
    "${IMPL}_stop"
    capture_stop
    fin=$($PY "$LAB/wire.py" "$PCAP" --local "$NVA_IP" |
      jq -r '[.sessions["10.1.1.4"] | (.fin_rx, .rst_rx) | numbers] | min // empty')
    t_fin=NA; [ -n "$fin" ] && t_fin=$(fsub "$fin" "$t0")
    after=NA
    if [ "$t_fin" != NA ]; then
      if [ "$t_log" != NA ]; then after=$(fsub "$t_log" "$t_fin")
      elif [ "$t_gone" != NA ]; then after=$(fsub "$t_gone" "$t_fin"); fi
    fi
    note=""; [ "$t_down" = NA ] && note="still up after 30s"
    echo "$LABEL,$mode,$PREFIXES,$ri,$t_fin,$t_down,$t_gone,$gone_poll,$t_log,$after,$note" | tee -a "$CSV"
    kill_pid $FP 2; [ -n "$FP2" ] && kill_pid $FP2 2
    topo down
  done
done
