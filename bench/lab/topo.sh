#!/usr/bin/env bash
# Azure-like lab topology in three network namespaces.
# (nvabgp's copy of /work/shared/lab/topo.sh; only the default namespace names differ.)
#
#   nb-nva (NVA VM)           nb-vr ("Azure virtual router")      nb-rs (Route Server stand-in)
#   nva0 10.1.2.4/24 <-veth-> vr-nva 10.1.2.1/24
#                             vr-rs  10.1.1.1/24      <-veth->    rs0 10.1.1.4/24 + 10.1.1.5/24
#                             ip_forward=1                        default via 10.1.1.1
#
# The NVA namespace starts with only its connected route; we ADD the static route
#   10.1.1.0/24 via 10.1.2.1   (needed for the multihop eBGP sessions to 10.1.1.4/.5).
# Both veth ends are created directly inside the namespaces (nothing in the root netns).
# Usage: topo.sh up|down|status
set -u
NS_NVA=${NS_NVA:-nb-nva}; NS_VR=${NS_VR:-nb-vr}; NS_RS=${NS_RS:-nb-rs}

up() {
  down quiet
  ip netns add "$NS_NVA" && ip netns add "$NS_VR" && ip netns add "$NS_RS" || return 1
  for ns in "$NS_NVA" "$NS_VR" "$NS_RS"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip link add nva0 netns "$NS_NVA" type veth peer name vr-nva netns "$NS_VR" || return 1
  ip link add rs0  netns "$NS_RS"  type veth peer name vr-rs  netns "$NS_VR" || return 1
  ip -n "$NS_NVA" addr add 10.1.2.4/24 dev nva0
  ip -n "$NS_VR"  addr add 10.1.2.1/24 dev vr-nva
  ip -n "$NS_VR"  addr add 10.1.1.1/24 dev vr-rs
  ip -n "$NS_RS"  addr add 10.1.1.4/24 dev rs0
  ip -n "$NS_RS"  addr add 10.1.1.5/24 dev rs0
  for l in "$NS_NVA nva0" "$NS_VR vr-nva" "$NS_VR vr-rs" "$NS_RS rs0"; do
    set -- $l; ip -n "$1" link set "$2" up
  done
  ip netns exec "$NS_VR" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$NS_RS"  route add default via 10.1.1.1
  ip -n "$NS_NVA" route add 10.1.1.0/24 via 10.1.2.1      # the static route the NVA needs
  # sanity (no ping binary here): a TCP connect to a closed port through the virtual router must be
  # answered with RST ("Connection refused"), proving the path nva -> vr -> rs -> vr -> nva works.
  local out
  out=$(ip netns exec "$NS_NVA" timeout 3 bash -c 'exec 3<>/dev/tcp/10.1.1.5/9' 2>&1)
  case "$out" in *refused*) ;; *) echo "topo: reachability check failed: $out" >&2; return 1;; esac
}

down() {
  for ns in "$NS_NVA" "$NS_VR" "$NS_RS"; do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      ip netns del "$ns"
    fi
  done
  [ "${1:-}" = quiet ] || true
}

status() {
  for ns in "$NS_NVA" "$NS_VR" "$NS_RS"; do
    echo "== $ns"; ip -n "$ns" -br addr 2>/dev/null; ip -n "$ns" route 2>/dev/null
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
