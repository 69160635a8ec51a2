#!/usr/bin/env bash
# The main job, from a fresh Debian machine: nvabgp peering with two Azure
# Route Server stand-ins in a namespace lab, advertising a static, an
# anycast and a next-hop-ip route, failing over on health checks, narrated
# (`nvabgp lab`, about 15 s). Installs what it needs, builds the release
# binary, runs the demo; everything it creates is removed at the end, also
# on Ctrl-C.
#
#   scripts/demo.sh                       # BIRD as the Route Server stand-ins
#   scripts/demo.sh --route-server frr    # or gobgp, exabgp, nvabgp
#   scripts/demo.sh --keep                # leave the lab up to look around
#
# Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: the lab builds network namespaces and needs root; run: sudo $0 $*" >&2
    exit 1
fi

# The stand-in asked for (BIRD by default) and the lab's tools.
implementation=bird
previous=
for arg in "$@"; do
    case "$previous" in --route-server) implementation=$arg ;; esac
    case "$arg" in --route-server=*) implementation=${arg#--route-server=} ;; esac
    previous=$arg
done
packages=(iproute2 iputils-ping procps tcpdump)
case "$implementation" in
    bird) packages+=(bird2) ;;
    frr) packages+=(frr) ;;
    gobgp) packages+=(gobgpd) ;;
    exabgp) packages+=(exabgp) ;;
esac
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "demo.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "demo.sh: building nvabgp (release)"
cargo build --release --quiet --bin nvabgp
exec target/release/nvabgp lab "$@"
