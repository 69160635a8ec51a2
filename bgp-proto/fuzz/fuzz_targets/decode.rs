//! Arbitrary bytes through the receive path (framing, then decode and every
//! UPDATE accessor); see `bgp_proto_fuzz::check_stream`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bgp_proto_fuzz::check_stream(data));
