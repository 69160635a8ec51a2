#!/usr/bin/env bash
# M2 control (copied from /work/shared/lab): is the feeder the bottleneck?  Same feeder as m2.sh
# (RS namespace, 10.1.1.4, passive),
# but the receiver in the NVA namespace is feeder.py --sink (parses every UPDATE and counts NLRI, no RIB).
# t_sink = sink's "rx_expected" timestamp - feeder's first-UPDATE timestamp (same host clock).
# Usage: m2-sink.sh N [RUNS]   -> appends to $RES/m2-sink.csv
set -u
LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
. "$LAB/lib.sh"
N=${1:-1000000}; RUNS=${2:-3}
CSV=$RES/m2-sink.csv
[ -s "$CSV" ] || echo "n,run,t_all_received_s,feeder_send_s,msgs,bytes" >"$CSV"
for ((r = 1; r <= RUNS; r++)); do
  log "M2-sink N=$N run $r/$RUNS"
  topo up || exit 1
  rm -rf "$RUN"; mkdir -p "$RUN"
  FJ=$RUN/feeder.json; SJ=$RUN/sink.json
  ip netns exec "$NS_RS" $PY "$LAB/feeder.py" --listen 10.1.1.4 --prefixes "$N" --status "$FJ" --once \
    --lifetime 120 >"$RUN/feeder.log" 2>&1 &
  FP=$!
  wait_until 60 0.1 has_ev "$FJ" listening
  ip netns exec "$NS_NVA" $PY "$LAB/feeder.py" --connect 10.1.1.4 --bind 10.1.2.4 --asn 65001 --sink \
    --expect "$N" --status "$SJ" --once --lifetime 60 >"$RUN/sink.log" 2>&1 &
  SP=$!
  wait_until 60 0.1 has_ev "$SJ" rx_expected
  t0=$(jev "$FJ" first_update t_first); t1=$(jev "$SJ" rx_expected t)
  echo "$N,$r,$(fsub "$t1" "$t0"),$(jev "$FJ" sent_all send_s | cut -c1-6),$(jev "$FJ" sent_all msgs),$(jev "$FJ" sent_all bytes)" | tee -a "$CSV"
  kill_pid "$SP" 2; kill_pid "$FP" 2
  topo down
done
