//! THE PLUG POINT for our own codec (`bgp-proto`), built only with
//! `--features ours`. This is the only file of the harness that names
//! `bgp_proto`; if the real crate's API differs from the stub's
//! (ours-stub/src/lib.rs), adapt `decode` below and nothing else.
//!
//! Contract: `decode` receives one complete BGP message (19-byte header
//! included, session = 4-octet AS, no ADD-PATH) and must add to the tally:
//! each prefix (v4/v6, announced/withdrawn, address with host bits zero),
//! each AS_PATH ASN, and the number of communities / large communities.

use crate::{Candidate, DecodeError, Tally, err};
use bgp_proto::{Context, LazyMessage, Nlri, Prefix};

pub struct Ours;

#[inline(always)]
fn pfx(t: &mut Tally, n: Nlri, wd: bool) {
    match n.prefix {
        Prefix::V4(a, l) => t.v4(a, l, wd),
        Prefix::V6(a, l) => t.v6(a, l, wd),
    }
}

impl Candidate for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn package(&self) -> String {
        // Set by build.rs from BGP_PROTO_PATH (scripts/bench-ours.sh sets it).
        env!("BGP_PROTO_DESC").into()
    }
    #[inline(always)]
    fn decode(&mut self, msg: &[u8], t: &mut Tally) -> Result<(), DecodeError> {
        // The receive path of a full-table ingest: `decode_lazy` checks the
        // header, lengths and every attribute up front, and each NLRI entry
        // as `for_each_withdrawn` / `for_each_announced` read it (an `Err`
        // there is the session reset `decode` would have returned, and
        // fails the run). The view is borrowed where `decode_lazy` put it,
        // not moved out of the `Result` and the enum: a copy less each.
        let m = bgp_proto::decode_lazy(msg, &Context::MODERN);
        let u = match &m {
            Ok(LazyMessage::Update(u)) => u,
            Ok(_) => return Ok(()),
            Err(e) => return Err(err(e)),
        };
        // A finding means the corpus was judged malformed: not a valid run.
        if let Some(e) = u.errors().first() {
            return Err(err(e));
        }
        t.updates += 1;
        u.for_each_withdrawn(|p| pfx(t, p, true)).map_err(err)?;
        if let Some(path) = u.as_path_view() {
            for asn in path.asns() {
                t.asn(asn);
            }
        }
        t.communities += u.communities().count() as u64;
        t.large_communities += u.large_communities().count() as u64;
        u.for_each_announced(|p| pfx(t, p, false)).map_err(err)?;
        Ok(())
    }
}
