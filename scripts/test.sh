#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests
# need (routing daemons for the interop tests, iproute2 for the namespace
# lab, the Rust lint components), then runs format, lint and every test.
# Namespace tests need root; run as root (CI does) or they skip loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(bird2 frr gobgpd exabgp iproute2 iputils-ping tcpdump procps openssl python3 libc6-dev binutils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "test.sh: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "test.sh: WARNING: not root, cannot install ${missing[*]}: namespace and interop tests will skip" >&2
    fi
fi
if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# The build to deploy (README "Building"): it must keep building, be
# static, and run.
echo "== cargo build-static"
cargo build-static
static_bin=target/x86_64-unknown-linux-gnu/release/nvabgp
if readelf -d "$static_bin" | grep -q NEEDED; then
    echo "test.sh: $static_bin needs shared libraries; it should be static" >&2
    exit 1
fi
"$static_bin" check --config examples/firewall-default-route.toml
echo "== cargo test"
cargo test --workspace
