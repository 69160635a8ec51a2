#!/usr/bin/env bash
# Builds the seed corpora (corpus/decode, corpus/decode_reencode; both
# git-ignored) from the real-implementation vectors in ../tests/vectors:
# each message prefixed with the context byte of the session it was
# captured on (bit 0 4-octet AS, bit 1 ADD-PATH IPv4, bit 2 ADD-PATH IPv6,
# bit 3 extended messages; see src/lib.rs), and for `decode` a read-size
# byte too (0 = whole, 7 = seven bytes per read), plus one stream of all
# messages of each capture scenario.
set -euo pipefail
cd "$(dirname "$0")"
vectors=../tests/vectors
[ -f "$vectors/MANIFEST.tsv" ] || vectors=../../../shared/testdata/bgp
mkdir -p corpus/decode corpus/decode_reencode
tail -n +2 "$vectors/MANIFEST.tsv" | while IFS=$'\t' read -r file _ _ _ _ _ scenario _ negotiated _; do
    ctx=0
    [[ "$negotiated" == *"as4=yes"* ]] && ctx=$((ctx | 1))
    [[ "$negotiated" =~ addpath\([^\)]*\)=[^\;]*ipv4-unicast ]] && ctx=$((ctx | 2))
    [[ "$negotiated" =~ addpath\([^\)]*\)=[^\;]*ipv6-unicast ]] && ctx=$((ctx | 4))
    [[ "$negotiated" == *"ext-msg=yes"* ]] && ctx=$((ctx | 8))
    byte=$(printf '\\x%02x' "$ctx")
    name="${file%.bin}"
    { printf "$byte"; cat "$vectors/$file"; } > "corpus/decode_reencode/$name"
    { printf "$byte\\x00"; cat "$vectors/$file"; } > "corpus/decode/$name"
    { printf "$byte\\x07"; cat "$vectors/$file"; } > "corpus/decode/$name-by7"
    # One stream per scenario and context: every message of it in order.
    stream="corpus/decode/stream-$scenario-$ctx"
    [ -f "$stream" ] || printf "$byte\\x00" > "$stream"
    cat "$vectors/$file" >> "$stream"
done
echo "seeded: $(ls corpus/decode | wc -l) decode, $(ls corpus/decode_reencode | wc -l) decode_reencode inputs"
