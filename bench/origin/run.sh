#!/usr/bin/env bash
# Origination benchmark: control call -> UPDATE on the wire for nvabgp, BIRD,
# ExaBGP and GoBGP side by side, and health failure -> UPDATE for nvabgp.
# Needs root, iproute2, tcpdump, python3, bird2, exabgp, gobgpd.
# Usage: bench/origin/run.sh [CHANGES=10] [IMPLS="nvabgp-cli nvabgp-api bird exabgp gobgp health"]
# Results: bench/origin/results/{summary.md,origin.csv}
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR="$root/target"
cargo build --release --manifest-path "$root/Cargo.toml" -p nvabgp --bin nvabgp
cargo build --release --manifest-path "$here/Cargo.toml"
exec "$CARGO_TARGET_DIR/release/origin-bench" "$CARGO_TARGET_DIR/release/nvabgp" "$here/results" \
  "${1:-10}" "${2:-nvabgp-cli nvabgp-api bird exabgp gobgp health}"
