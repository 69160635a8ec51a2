//! decode → encode → decode gives an equal message; see
//! `bgp_proto_fuzz::check_reencode`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bgp_proto_fuzz::check_reencode(data));
