//! An Azure-like lab in Linux network namespaces, with real BGP daemons as
//! Route Server stand-ins, for interop tests and benchmarks.
//!
//! ```text
//!  nva ns (NVA, AS 65001)        vr ns ("Azure virtual router")        rs ns (Route Server stand-ins, AS 65515)
//!  nva0 10.1.2.4/24  <--veth-->  vr-nva 10.1.2.1/24
//!                                vr-rs 10.1.1.1/24, ip_forward=1  <--veth-->  rs0 10.1.1.4/24 + 10.1.1.5/24
//!  default via 10.1.2.1                                                       default via 10.1.1.1
//! ```
//!
//! Azure Route Server is two BGP speakers (AS 65515) in their own subnet,
//! reached through the virtual router (the first host of every subnet), so
//! the sessions are multihop eBGP (TTL 255). [`Topology`] builds the three
//! namespaces; [`daemons`] runs BIRD 2, FRR 8, GoBGP 3 or ExaBGP 4 as the two
//! Route Server instances ([`daemons::RouteServers`]) or as the NVA-side
//! speaker ([`daemons::start_nva_speaker`], the baseline nvabgp is compared
//! with).
//!
//! Everything is confined to namespaces and runtime directories this
//! process created: no host routes, no host sysctls, no system services.
//! Daemons are started as children of this process (never daemonized), so
//! they are stopped by PID; [`Topology`]'s `Drop` also kills whatever still
//! runs inside its namespaces before deleting them, and
//! [`cleanup_leftovers`] removes what a killed test run left behind. Every
//! wait is bounded in time.
//!
//! Needs root, iproute2 and the daemons' Debian packages (`bird2`, `frr`,
//! `gobgpd`, `exabgp`); see [`require_root`] and [`require_implementation`]
//! for how tests skip (or, on CI, fail) without them.

pub mod daemons;
pub mod demo;
mod prerequisites;
pub mod process;
mod topology;

use std::time::Duration;

pub use prerequisites::{SkipReason, on_ci, require_implementation, require_root};
pub use topology::{Node, Topology, TopologyOptions, cleanup_leftovers};

/// Prefix of everything the lab creates: namespaces (`nbl<pid>-<n>-nva`)
/// and runtime directories (`nvabgp-lab-<pid>-<n>-<name>` in the temporary
/// directory). The creator's PID in the name lets [`cleanup_leftovers`]
/// tell abandoned objects from those of a run still in progress.
pub const NAME_PREFIX: &str = "nbl";

/// Failures of the lab: a command that failed, a wait that timed out, a
/// daemon output that did not parse.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation (spawning, reading, writing a file) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A command exited unsuccessfully (or was killed at its time limit).
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status, or "timed out after ...".
        status: String,
        /// The end of its stderr (or stdout when stderr was empty).
        output: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {waited:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        waited: Duration,
        /// The last state observed (and daemon logs, when relevant).
        last: String,
    },
    /// A daemon's CLI output was not what we expected.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// Which output.
        what: String,
        /// Why.
        reason: String,
    },
    /// A request the lab (or the chosen implementation) cannot carry out.
    #[error("{0}")]
    Unsupported(String),
}

/// The lab's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn parse(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Parse {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
