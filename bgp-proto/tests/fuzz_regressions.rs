//! The fuzz targets' checks (`fuzz/src/lib.rs`, included as is) replayed in
//! the ordinary test run, on every real-implementation vector under every
//! session context.
//!
//! To keep a fuzz crash: minimise it (`cargo fuzz tmin`, see
//! fuzz/README.md) and add a test here that feeds its bytes to the check
//! of the target that crashed (`check_stream` or `check_reencode`), named
//! after what broke; then fix the bug. The first 2-minute runs found none.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use fuzz_checks::{check_reencode, check_stream};

fn vectors() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn real_messages_pass_the_fuzz_checks_under_every_context() {
    let vectors = vectors();
    assert!(vectors.len() >= 100, "expected the real vectors");
    for context in 0u8..16 {
        for (name, message) in &vectors {
            eprintln!("{name} under context {context:#x}");
            let mut input = vec![context];
            input.extend_from_slice(message);
            check_reencode(&input);
            for read_size in [0u8, 1, 7] {
                let mut input = vec![context, read_size];
                input.extend_from_slice(message);
                check_stream(&input);
            }
        }
    }
}

#[test]
fn a_stream_of_every_real_message_frames_at_any_read_size() {
    let mut stream = vec![1u8 | 8, 0];
    for (_, message) in vectors() {
        stream.extend_from_slice(&message);
    }
    for read_size in [0u8, 1, 2, 18, 19, 20, 255] {
        stream[1] = read_size;
        check_stream(&stream);
    }
}
