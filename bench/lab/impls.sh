# Pluggable BGP implementations for the lab.  Source after lib.sh.
#
# nvabgp's copy of /work/shared/lab/impls.sh, plus `nvabgp_*` (our agent) at the end.  The M3-only
# pseudo-implementations (exabgpwa, frrstatic) are left out.
#
# Every implementation IMPL provides these shell functions:
#   IMPL_start        start the daemon(s) in namespace $NS (returns once the processes exist)
#   IMPL_stop         stop them (SIGTERM by PID, SIGKILL after a bounded grace period)
#   IMPL_pids         PIDs whose VmRSS is the footprint (e.g. FRR: bgpd + zebra)
#   IMPL_established  number of BGP sessions in state Established
#   IMPL_count        number of IPv4 unicast prefixes received/accepted
#   IMPL_kcount       number of routes it installed in the kernel ("NA" if it does not install)
#   IMPL_nh IP        (ROLE=speak) announce/replace 100.64.0.1/32 with next hop IP (M3)
#   IMPL_ctl          optional: "KIND SOCKET" for ctl.py's persistent fast poller (bird, nvabgp)
#   IMPL_paths        optional: paths from all peers (two RS with the same prefixes: 2 per prefix)
# Parameters (environment, set by the measurement scripts before IMPL_start):
#   NS        netns to run in                    (default $NS_NVA)
#   D         runtime dir for configs/logs/sockets (default $RUN/IMPL)
#   ROLE      recv  : import everything, export nothing, install into kernel if KERNEL=1
#             speak : additionally originate 100.64.0.1/32 with next hop $M3_NH0 (M3)
#   LOCAL_IP (10.1.2.4)  LOCAL_AS (65001)  PEERS ("10.1.1.4 10.1.1.5")  PEER_AS (65515)
#   HOLD KEEPALIVE   timers in s; empty = the implementation's defaults
#   KERNEL    1 = install received routes into the kernel; KTABLE (100) for impls that can choose
#   FRR_NH_METHOD network|static (M3 driver for FRR), FRR_DEBUG=1 (bgpd debug log)
# Daemons that stay in the foreground (GoBGP, ExaBGP, nvabgp) are started with setsid, so that like
# BIRD and FRR (which daemonize) each has its own session and scheduler autogroup (see boost, lib.sh).

: "${NS:=$NS_NVA}" "${ROLE:=recv}" "${LOCAL_IP:=10.1.2.4}" "${LOCAL_AS:=65001}"
: "${PEERS:=10.1.1.4 10.1.1.5}" "${PEER_AS:=65515}" "${KERNEL:=1}" "${KTABLE:=100}"
: "${HOLD:=}" "${KEEPALIVE:=}" "${M3_PREFIX:=100.64.0.1/32}" "${M3_NH0:=10.1.2.10}"

impl() { local i=$1 op=$2; shift 2; "${i}_${op}" "$@"; }
impl_exists() { declare -F "${1}_start" >/dev/null; }

_d() { D=${D:-$RUN/$1}; mkdir -p "$D"; }
_pidfile_wait() { wait_until 10 0.05 test -s "$1"; cat "$1" 2>/dev/null; }

# kernel baseline helpers (generic: count prefixes in a table via fib_triestat, minus baseline)
_kbase_save() { fib_prefixes "$NS" "$1" >"$D/kbase.$1"; }
_kcount_table() { local b; b=$(cat "$D/kbase.$1" 2>/dev/null || echo 0); echo $(( $(fib_prefixes "$NS" "$1") - b )); }

########################################################################################
# BIRD 2 (one process).  Received multihop routes are resolved recursively through the
# static route 10.1.1.0/24 via 10.1.2.1 that we also give to BIRD (BIRD does not use the
# kernel's main table for recursive resolution unless a kernel protocol learns it).
# Kernel export goes to table $KTABLE (separate table, so the main table stays clean).
bird_start() {
  _d bird
  local hold="" p i=0
  [ -n "$HOLD" ] && hold="hold time $HOLD; keepalive time ${KEEPALIVE:-$((HOLD / 3))};"
  local kexp=none; [ "$KERNEL" = 1 ] && kexp="where source = RTS_BGP"
  local bexp=none
  if [ "$ROLE" = speak ]; then
    echo "route $M3_PREFIX via $M3_NH0;" >"$D/m3.conf"
    bexp='filter { if proto = "m3" then { bgp_next_hop = gw; accept; } reject; }'
  fi
  {
    echo "log \"$D/bird.log\" { info, remote, warning, error, auth, fatal, bug };"
    echo "timeformat log iso long ms; timeformat protocol iso long ms;"
    echo "router id $LOCAL_IP;"
    echo "protocol device { scan time 60; }"
    echo "protocol static igpstatic { ipv4; route 10.1.1.0/24 via 10.1.2.1; }"
    echo "protocol kernel k4 { ipv4 { import none; export $kexp; }; kernel table $KTABLE; persist; scan time 3600; }"
    [ "$ROLE" = speak ] && printf 'protocol static m3 {\n  ipv4;\n  include "%s";\n}\n' "$D/m3.conf"
    echo "template bgp rstpl { local $LOCAL_IP as $LOCAL_AS; multihop; $hold ipv4 { import all; export $bexp; }; }"
    for p in $PEERS; do i=$((i + 1)); echo "protocol bgp rsp$i from rstpl { neighbor $p as $PEER_AS; }"; done
  } >"$D/bird.conf"
  [ "$KERNEL" = 1 ] && _kbase_save "$KTABLE"
  rm -f "$D/bird.pid"
  # As for nvabgp (see lib.sh); pages the Route Server stand-ins map stay.
  [ "${RECACHE:-1}" = 1 ] && recache_file "$(command -v bird)"
  ip netns exec "$NS" bird -c "$D/bird.conf" -s "$D/bird.ctl" -P "$D/bird.pid" || return 1
  BIRD_PID=$(_pidfile_wait "$D/bird.pid")
}
bird_pids() { cat "${D:-$RUN/bird}/bird.pid" 2>/dev/null; }
bird_stop() { local p; p=$(bird_pids); [ -n "$p" ] && kill_pid "$p" 15; }
bird_ctl() { echo "bird ${D:-$RUN/bird}/bird.ctl"; }
bird_paths() { bird_count; }   # "Routes: N imported" summed over the protocols: every path
birdc_() { birdc -s "${D:-$RUN/bird}/bird.ctl" "$@"; }
bird_established() { birdc_ show protocols 2>/dev/null | awk '$2=="BGP" && /Established/' | wc -l; }
bird_count() { birdc_ show protocols all '"rsp*"' 2>/dev/null | awk '/Routes:/ {s += $2} END {print s + 0}'; }
bird_kcount() { [ "$KERNEL" = 1 ] && _kcount_table "$KTABLE" || echo NA; }
bird_nh() {   # edit the static route and reconfigure (the usual way to change a BIRD announcement)
  echo "route $M3_PREFIX via $1;" >"${D:-$RUN/bird}/m3.conf"
  birdc_ configure >/dev/null
}

########################################################################################
# BIRD as the Route-Server stand-in in lab-rs: TWO bird processes, one per RS address
# (10.1.1.4 and 10.1.1.5), passive, "strict bind" so each listens only on its own address.
# (One bird with two protocols to the same neighbor 10.1.2.4 does not work: BIRD's per-neighbor
# lock keeps the second protocol Idle.)  Imports all, exports nothing.
rsbird_start() {
  local a D
  for a in $RS_IPS; do
    D=$RUN/rsbird-$a; mkdir -p "$D"
    local hold=""; [ -n "${RS_HOLD:-}" ] && hold="hold time $RS_HOLD; keepalive time $((RS_HOLD / 3));"
    cat >"$D/bird.conf" <<EOF2
log "$D/bird.log" all;
timeformat log iso long ms; timeformat protocol iso long ms;
router id $a;
protocol device { scan time 60; }
protocol bgp nva { local $a as $RS_AS; neighbor $NVA_IP as $NVA_AS; multihop; passive on; strict bind on; $hold
  ipv4 { import all; export none; }; }
EOF2
    rm -f "$D/bird.pid"
    ip netns exec "$NS_RS" bird -c "$D/bird.conf" -s "$D/bird.ctl" -P "$D/bird.pid" || return 1
    _pidfile_wait "$D/bird.pid" >/dev/null
  done
}
rsbird_pids() { local a; for a in $RS_IPS; do cat "$RUN/rsbird-$a/bird.pid" 2>/dev/null; done; }
rsbird_stop() { local p; for p in $(rsbird_pids); do kill_pid "$p" 10; done; }
rsbird_established() {
  local a n=0
  for a in $RS_IPS; do
    birdc -s "$RUN/rsbird-$a/bird.ctl" show protocols 2>/dev/null | grep -q Established && n=$((n + 1))
  done
  echo $n
}
rsbird_routes() { local a; for a in $RS_IPS; do birdc -s "$RUN/rsbird-$a/bird.ctl" show route all 2>/dev/null; done; }

########################################################################################
# FRR: zebra + bgpd (+ staticd only for ROLE=speak), run in $NS with their own path space
# (-N) so that they never collide with any other FRR on the host.  zebra installs the BGP
# routes into the kernel MAIN table (no VRF); -r keeps them on exit (teardown = delete netns).
FRR_NH_METHOD=${FRR_NH_METHOD:-network}
frr_start() {
  _d frr
  local ps=$FRR_PS run=/var/run/frr/$FRR_PS p
  mkdir -p "$run"; chown frr:frr "$run" "$D"; chmod 755 "$D"
  local timers=""; [ -n "$HOLD" ] && timers="timers bgp ${KEEPALIVE:-$((HOLD / 3))} $HOLD"
  cat >"$D/zebra.conf" <<EOF
hostname nva
log file $D/zebra.log informational
EOF
  {
    echo "frr defaults traditional"
    echo "hostname nva"
    if [ "${FRR_DEBUG:-0}" = 1 ]; then
      echo "log file $D/bgpd.log debugging"
      echo "debug bgp updates"; echo "debug bgp neighbor-events"; echo "debug bgp zebra"
    else
      echo "log file $D/bgpd.log informational"
    fi
    echo "route-map ALL permit 10"
    if [ "$ROLE" = speak ]; then
      echo "route-map OUT permit 10"
      echo " set ip next-hop unchanged"
      echo "route-map NH-10.1.2.10 permit 10"
      echo " set ip next-hop 10.1.2.10"
      echo "route-map NH-10.1.2.11 permit 10"
      echo " set ip next-hop 10.1.2.11"
    fi
    echo "router bgp $LOCAL_AS"
    echo " bgp router-id $LOCAL_IP"
    echo " no bgp network import-check"
    [ -n "$timers" ] && echo " $timers"
    for p in $PEERS; do
      echo " neighbor $p remote-as $PEER_AS"
      echo " neighbor $p ebgp-multihop 255"
      echo " neighbor $p update-source $LOCAL_IP"
    done
    echo " address-family ipv4 unicast"
    if [ "$ROLE" = speak ]; then
      if [ "$FRR_NH_METHOD" = static ]; then echo "  redistribute static"
      else echo "  network $M3_PREFIX route-map NH-$M3_NH0"; fi
    fi
    for p in $PEERS; do
      echo "  neighbor $p route-map ALL in"
      [ "$ROLE" = speak ] && echo "  neighbor $p route-map OUT out"
    done
    echo " exit-address-family"
  } >"$D/bgpd.conf"
  echo "hostname nva" >"$D/staticd.conf"
  [ "$ROLE" = speak ] && [ "$FRR_NH_METHOD" = static ] && echo "ip route $M3_PREFIX $M3_NH0" >>"$D/staticd.conf"
  chown frr:frr "$D"/*.conf
  [ "$KERNEL" = 1 ] && _kbase_save main
  rm -f "$run"/*.pid
  local rflag=""; [ "${FRR_RETAIN:-1}" = 1 ] && rflag="-r"
  ip netns exec "$NS" /usr/lib/frr/zebra -d -N "$ps" -f "$D/zebra.conf" -P 0 -s 90000000 $rflag || return 1
  wait_until 10 0.05 test -S "$run/zserv.api" || return 1
  local nk=""; [ "$KERNEL" = 1 ] || nk="--no_kernel"      # bgpd -n: keep routes out of zebra/kernel
  ip netns exec "$NS" /usr/lib/frr/bgpd -d -N "$ps" -f "$D/bgpd.conf" -P 0 $nk || return 1
  if [ "$ROLE" = speak ] && [ "$FRR_NH_METHOD" = static ]; then
    ip netns exec "$NS" /usr/lib/frr/staticd -d -N "$ps" -f "$D/staticd.conf" -P 0 || return 1
  fi
  _pidfile_wait "$run/zebra.pid" >/dev/null; _pidfile_wait "$run/bgpd.pid" >/dev/null
}
frr_pids() { cat /var/run/frr/$FRR_PS/bgpd.pid /var/run/frr/$FRR_PS/zebra.pid 2>/dev/null; }
frr_allpids() { cat /var/run/frr/$FRR_PS/{bgpd,zebra,staticd}.pid 2>/dev/null; }
frr_stop() {
  local p
  for p in $(cat /var/run/frr/$FRR_PS/{staticd,bgpd}.pid 2>/dev/null); do kill_pid "$p" 15; done
  for p in $(cat /var/run/frr/$FRR_PS/zebra.pid 2>/dev/null); do kill_pid "$p" 30; done
  rm -f /var/run/frr/$FRR_PS/*.pid
}
vtysh_() { vtysh -N "$FRR_PS" "$@"; }
frr_summary() { vtysh_ -c 'show bgp ipv4 unicast summary json' 2>/dev/null; }
frr_established() { frr_summary | jq '[(.ipv4Unicast // .) | .peers[]? | select(.state == "Established")] | length' 2>/dev/null || echo 0; }
frr_count() { frr_summary | jq '[(.ipv4Unicast // .) | .peers[]? | .pfxRcd] | add // 0' 2>/dev/null || echo 0; }
frr_kcount() { [ "$KERNEL" = 1 ] && _kcount_table main || echo NA; }
# FRR_NH_METHOD=network (default): `network P route-map NH-<ip>`, switched to another route-map
#   that sets the new next hop (one bgp_static update).
# FRR_NH_METHOD=static: staticd route + `redistribute static`; change = add the new static route
#   first, then remove the old one (make-before-break).
FRR_NH_METHOD=${FRR_NH_METHOD:-network}
frr_nh() {
  if [ "$FRR_NH_METHOD" = static ]; then
    local old; old=$(cat "${D:-$RUN/frr}/m3.cur" 2>/dev/null || echo "$M3_NH0")
    vtysh_ -c 'configure terminal' -c "ip route $M3_PREFIX $1" -c "no ip route $M3_PREFIX $old" >/dev/null 2>&1
    echo "$1" >"${D:-$RUN/frr}/m3.cur"
  else
    vtysh_ -c 'configure terminal' -c "router bgp $LOCAL_AS" -c 'address-family ipv4 unicast' \
      -c "network $M3_PREFIX route-map NH-$1" >/dev/null 2>&1
  fi
}

########################################################################################
# GoBGP (gobgpd).  gRPC API on 127.0.0.1:50051 inside $NS.  Does not install routes into
# the kernel by itself (only through FRR zebra's zapi, not used here) -> kcount = NA.
GOBGP_API=${GOBGP_API:-50051}
gobgp_() { ip netns exec "$NS" gobgp -p "$GOBGP_API" "$@"; }
gobgp_start() {
  _d gobgp
  local p exp=reject-route
  [ "$ROLE" = speak ] && exp=accept-route
  {
    echo "[global.config]"
    echo "  as = $LOCAL_AS"
    echo "  router-id = \"$LOCAL_IP\""
    echo "  local-address-list = [\"$LOCAL_IP\"]"
    echo "[global.apply-policy.config]"
    echo "  default-import-policy = \"accept-route\""
    echo "  default-export-policy = \"$exp\""
    for p in $PEERS; do
      echo "[[neighbors]]"
      echo "  [neighbors.config]"
      echo "    neighbor-address = \"$p\""
      echo "    peer-as = $PEER_AS"
      echo "  [neighbors.transport.config]"
      echo "    local-address = \"$LOCAL_IP\""
      echo "  [neighbors.ebgp-multihop.config]"
      echo "    enabled = true"
      echo "    multihop-ttl = 255"
      if [ -n "$HOLD" ]; then
        echo "  [neighbors.timers.config]"
        echo "    hold-time = $HOLD"
        echo "    keepalive-interval = ${KEEPALIVE:-$((HOLD / 3))}"
      fi
      echo "  [[neighbors.afi-safis]]"
      echo "    [neighbors.afi-safis.config]"
      echo "      afi-safi-name = \"ipv4-unicast\""
    done
  } >"$D/gobgpd.toml"
  ip netns exec "$NS" setsid gobgpd -f "$D/gobgpd.toml" --api-hosts "127.0.0.1:$GOBGP_API" --pprof-disable \
    -l info -p >"$D/gobgpd.log" 2>&1 &
  echo $! >"$D/gobgpd.pid"
  if [ "$ROLE" = speak ]; then
    wait_until 10 0.1 gobgp_ global >/dev/null 2>&1
    gobgp_ global rib add "$M3_PREFIX" nexthop "$M3_NH0" -a ipv4 >/dev/null
  fi
}
gobgp_pids() { cat "${D:-$RUN/gobgp}/gobgpd.pid" 2>/dev/null; }
gobgp_stop() { local p; p=$(gobgp_pids); [ -n "$p" ] && kill_pid "$p" 15; wait "$p" 2>/dev/null; true; }
gobgp_established() { gobgp_ neighbor 2>/dev/null | awk 'NR>1 && $4 ~ /^Establ/' | wc -l; }
gobgp_count() { gobgp_ global rib summary -a ipv4 2>/dev/null | awk -F'[:,]' '/Destination/ {gsub(/ /,"",$2); print $2; f=1} END {if(!f) print 0}'; }
gobgp_kcount() { echo NA; }
gobgp_nh() { gobgp_ global rib add "$M3_PREFIX" nexthop "$1" -a ipv4 >/dev/null; }

########################################################################################
# ExaBGP 4.2 (python).  One API helper process (exa_api.py) relays commands from a FIFO to
# exabgp and counts received prefixes / session state from exabgp's JSON events.
# ExaBGP only connects out (it does not listen by default); it never installs routes.
exabgp_start() {
  _d exabgp
  rm -f "$D/cmd.fifo" "$D/api.status"; mkfifo "$D/cmd.fifo"
  local p recv=""
  [ "$ROLE" = recv ] && recv="receive { parsed; update; }"
  {
    echo "process api {"
    echo "  run $PY $LAB/exa_api.py --fifo $D/cmd.fifo --status $D/api.status --log $D/api.log;"
    echo "  encoder json;"
    echo "}"
    for p in $PEERS; do
      echo "neighbor $p {"
      echo "  router-id $LOCAL_IP;"
      echo "  local-address $LOCAL_IP;"
      echo "  local-as $LOCAL_AS;"
      echo "  peer-as $PEER_AS;"
      [ -n "$HOLD" ] && echo "  hold-time $HOLD;"
      echo "  family { ipv4 unicast; }"
      echo "  api { processes [ api ]; neighbor-changes; $recv }"
      echo "}"
    done
  } >"$D/exabgp.conf"
  ip netns exec "$NS" setsid env exabgp.daemon.user=root exabgp.daemon.drop=false exabgp.api.cli=false \
    exabgp.log.destination="$D/exabgp.log" exabgp.daemon.daemonize=false \
    exabgp "$D/exabgp.conf" >"$D/exabgp.out" 2>&1 &
  echo $! >"$D/exabgp.pid"
  if [ "$ROLE" = speak ]; then
    wait_until 10 0.1 test -s "$D/api.status"
    exabgp_nh "$M3_NH0"
  fi
}
exabgp_pids() {   # exabgp itself (+ its API helper, reported separately by the scripts)
  cat "${D:-$RUN/exabgp}/exabgp.pid" 2>/dev/null
}
exabgp_helper_pids() { local p; p=$(exabgp_pids); [ -n "$p" ] && cat /proc/"$p"/task/*/children 2>/dev/null; }
exabgp_stop() {
  local p h hs; p=$(exabgp_pids); hs=$(exabgp_helper_pids)
  [ -n "$p" ] && kill_pid "$p" 15; wait "$p" 2>/dev/null
  for h in $hs; do kill_pid "$h" 2; done; true
}
_exa_get() { awk -F= -v k="$1" '$1==k {print $2}' "${D:-$RUN/exabgp}/api.status" 2>/dev/null | { read -r v; echo "${v:-0}"; }; }
exabgp_established() { _exa_get up; }
exabgp_count() { _exa_get nlri; }
exabgp_kcount() { echo NA; }
exabgp_nh() {
  # timeout: never block forever on the FIFO if the helper is gone
  timeout 5 bash -c "echo 'announce route $M3_PREFIX next-hop $1' > '${D:-$RUN/exabgp}/cmd.fifo'"
}


########################################################################################
# nvabgp (our agent): one process, one thread.  Config generated from the same variables; counts
# come from its control API (`status`: peers_established, loc_rib_prefixes): the CLI for one-shot
# queries, ctl.py as the persistent fast poller.  KERNEL=1 installs learned routes ([kernel]).
# Its log (stderr, RUST_LOG=${NVABGP_LOG:-info}, microsecond UTC timestamps) goes to $D/nvabgp.log.
nvabgp_start() {
  _d nvabgp
  local p i=0
  [ -x "$NVABGP" ] || { log "no nvabgp binary at $NVABGP (cargo build --release)"; return 1; }
  {
    echo "asn = $LOCAL_AS"
    echo "router_id = \"$LOCAL_IP\""
    echo "local_address = \"$LOCAL_IP\""
    echo "listen = \"$LOCAL_IP:179\""
    echo "control_socket = \"$D/nvabgp.sock\""
    [ -n "$HOLD" ] && echo "hold_time = $HOLD"
    for p in $PEERS; do
      i=$((i + 1))
      echo "[[peer]]"
      echo "name = \"rs$i\""
      echo "address = \"$p\""
      echo "asn = $PEER_AS"
    done
    # KERNEL=1: install learned routes (pinned routes too, as in production);
    # otherwise leave the namespace's table alone, like bird-nokernel.
    echo "[kernel]"
    if [ "${KERNEL:-0}" = 1 ]; then
      echo "install = true"
    else
      echo "install = false"
      echo "pin = \"none\""
      echo "pin_default = false"
    fi
  } >"$D/nvabgp.toml"
  rm -f "$D/nvabgp.sock" "$D/t_exec"
  # Its executable as after a boot, not as the build left it in the page cache (see lib.sh).
  [ "${RECACHE:-1}" = 1 ] && recache_file "$NVABGP"
  # t_fork: before `ip netns exec` (which costs a few ms itself); t_exec: written inside the
  # namespace by the shell that then execs nvabgp, i.e. the process start as systemd would do it.
  # `ip netns exec`, setsid (its own session, as a service manager starts it; see `boost` in
  # lib.sh) and `exec` keep the PID, so $! is nvabgp's own.
  echo "$EPOCHREALTIME" >"$D/t_fork"
  # The wrapper also sets its new session's autogroup niceness ($NICE, see boost in lib.sh) before the
  # exec, so that start-up runs with it too.
  ip netns exec "$NS" setsid bash -c '
    export RUST_LOG=$1
    [ "$3" = 0 ] || echo "$3" >/proc/self/autogroup
    echo "$EPOCHREALTIME" >"$2"; shift 3; exec "$@"' _ \
    "${NVABGP_LOG:-info}" "$D/t_exec" "${NICE:-0}" "$NVABGP" run --config "$D/nvabgp.toml" 2>"$D/nvabgp.log" &
  echo $! >"$D/nvabgp.pid"
}
nvabgp_pids() { cat "${D:-$RUN/nvabgp}/nvabgp.pid" 2>/dev/null; }
nvabgp_stop() { local p; p=$(nvabgp_pids); [ -n "$p" ] && kill_pid "$p" 10; wait "$p" 2>/dev/null; true; }
nvabgp_ctl() { echo "nvabgp ${D:-$RUN/nvabgp}/nvabgp.sock"; }
# One-shot queries use the CLI (`nvabgp --socket S status --json`, a few ms); ctl.py is for fast
# polling over one connection.
_nvabgp_q() {
  "$NVABGP" --socket "${D:-$RUN/nvabgp}/nvabgp.sock" status --json 2>/dev/null |
    awk -v k="\"$1\":" '$1 == k {gsub(/[ ,]/, "", $2); v = $2} END {print (v == "" ? 0 : v)}'
}
nvabgp_established() { _nvabgp_q peers_established; }
nvabgp_count() { _nvabgp_q loc_rib_prefixes; }
nvabgp_kcount() { echo NA; }
# Paths from all peers (two Route Servers announcing the same prefixes: 2 per prefix).
nvabgp_paths() {
  "$NVABGP" --socket "${D:-$RUN/nvabgp}/nvabgp.sock" neighbors --json 2>/dev/null |
    jq '[.[].prefixes_accepted] | add // 0' 2>/dev/null || echo 0
}
