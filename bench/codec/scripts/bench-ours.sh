#!/usr/bin/env bash
# Run the harness with our codec (`bgp-proto`) plugged in as candidate "ours".
#
#   scripts/bench-ours.sh [corpus.bin] [bench options...]
#
# BGP_PROTO_PATH: the bgp-proto crate directory; defaults to this project's
# (../../bgp-proto from bench/codec). It replaces the in-tree stub
# (ours-stub/) through a command-line [patch] override; Cargo.toml is not
# edited.
set -euo pipefail
cd "$(dirname "$0")/.."
p="${BGP_PROTO_PATH:-../../bgp-proto}"
if [ ! -f "$p/Cargo.toml" ]; then
    echo "bench-ours: no Cargo.toml in $p (set BGP_PROTO_PATH)" >&2
    exit 1
fi
p="$(cd "$p" && pwd)"
export BGP_PROTO_PATH="$p"          # build.rs labels the candidate with it
args=("$@")
if [ ${#args[@]} -eq 0 ] || [[ "${args[0]}" == --* ]]; then
    args=(corpus/updates.bin "${args[@]}")
fi
[ -f "${args[0]}" ] || cargo run --release --bin gen
exec cargo run --release --features ours \
    --config "patch.crates-io.bgp-proto.path=\"$p\"" \
    --bin bench -- "${args[@]}"
