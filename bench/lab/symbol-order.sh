#!/usr/bin/env bash
# Regenerates .cargo/symbol-order.txt, the linker's symbol ordering file for `cargo build-static`
# (see .cargo/config.toml): the functions nvabgp enters, in the order it first enters them, while it
# starts and idles with two sessions (m1), takes in 100k prefixes without and with kernel
# installation (m2), and loses one of two Route Servers (m4).  The linker lays these out first, so
# the code the daemon runs shares few pages (BENCHMARKS.md, "Peer sessions").
#
# Usage: sudo bench/lab/symbol-order.sh [BINARY]
#   BINARY: an unstripped `cargo build-static` build (default target/x86_64-unknown-linux-gnu/
#   release/nvabgp).  Each scenario runs once, in the namespace lab, under funcs_hit.py (a breakpoint
#   on every function entry, removed at its first hit); results go to a temporary directory, not to
#   bench/results.  About two minutes.  Then rebuild: `cargo build-static`.
set -u
LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$LAB/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/target/x86_64-unknown-linux-gnu/release/nvabgp}")
OUT=$ROOT/.cargo/symbol-order.txt
[ -x "$BIN" ] || { echo "no binary at $BIN: run cargo build-static first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The daemon (`run`) is traced; the CLI the scripts use for queries is not.
cat >"$work/nvabgp" <<EOF
#!/bin/bash
if [ "\$1" = run ]; then exec /usr/bin/python3 "$LAB/funcs_hit.py" "$BIN" "\$@"; fi
exec "$BIN" "\$@"
EOF
chmod +x "$work/nvabgp"
export NVABGP=$work/nvabgp RES=$work/results

scenario() {
  local name=$1; shift
  echo "== $name"
  HITS_OUT=$work/hits-$name env "$@" >"$work/$name.log" 2>&1 || { echo "$name failed:"; tail -5 "$work/$name.log"; }
  [ -s "$work/hits-$name" ] || { echo "$name: no functions recorded" >&2; exit 1; }
  echo "$name: $(sort -u "$work/hits-$name" | wc -l) functions entered; $(tail -1 "$work/$name.log" | cut -c1-100)"
}
scenario m1 IDLE=5 CPU_WINDOW=6 bash "$LAB/m1.sh" nvabgp 1
scenario m2 KERNEL=0 bash "$LAB/m2.sh" nvabgp 100000 1
scenario m2-kernel KERNEL=1 bash "$LAB/m2.sh" nvabgp 100000 1
scenario m4 TWO_RS=1 PREFIXES=1000 bash "$LAB/m4.sh" nvabgp kill 1

cat "$work"/hits-m1 "$work"/hits-m2 "$work"/hits-m2-kernel "$work"/hits-m4 | awk '!seen[$0]++' >"$work/order"
mv "$work/order" "$OUT"
total=$(nm -S --defined-only "$BIN" | awk 'NF == 4 && $3 ~ /^[tTW]$/' | wc -l)
echo "$OUT: $(wc -l <"$OUT") of $total functions"
echo "cargo does not track this file: relink with  touch src/main.rs && cargo build-static"
