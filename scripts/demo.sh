#!/usr/bin/env bash
# The main job, for now: build nvabgp and decode real BGP messages captured
# from BIRD, FRR, GoBGP and ExaBGP (one JSON object per message). The
# namespace lab that shows the whole job replaces this once peer sessions
# exist.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin nvabgp
v=bgp-proto/tests/vectors
for f in "$v"/bird-open-s2-*.bin "$v"/frr-update-s1-ipv4-1nlri-med-comm-lcomm-ecomm.bin \
         "$v"/bird-update-s2-ipv6-mpreach1-llnh-prepend-med-comm-lcomm.bin \
         "$v"/bird-notification-s1-cease-admin-shutdown-msg.bin; do
    echo "# $(basename "$f")"
    target/release/nvabgp decode "$f"
done
