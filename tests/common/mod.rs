//! Helpers shared by the integration tests that use the namespace lab.
//!
//! Each test binary includes this module with `mod common;` and uses part
//! of it.
#![allow(dead_code)]

use std::fmt::Display;
use std::time::{Duration, Instant};

use bgp_proto::{Community, LargeCommunity, Prefix};
use nvabgp::lab::daemons::{
    Announcement, Implementation, NvaSpeakerOptions, RouteServerOptions, Timers,
};
use nvabgp::lab::{require_implementation, require_root};

/// Upper bound of any wait in the lab tests: generous, because the machine
/// may be shared and slow; a healthy run needs a few seconds.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Whether lab tests can run here. If not, prints a loud banner and returns
/// `false` (the test should return), or panics on CI (`CI=true`), where a
/// missing prerequisite is a broken CI image, not a reason to skip.
pub fn lab_available(test: &str, implementations: &[Implementation]) -> bool {
    let check = require_root().and_then(|()| {
        implementations
            .iter()
            .try_for_each(|i| require_implementation(*i))
    });
    match check {
        Ok(()) => true,
        Err(reason) => {
            reason.skip_or_fail(test);
            false
        }
    }
}

/// Parses a prefix literal.
pub fn prefix(text: &str) -> Prefix {
    text.parse()
        .unwrap_or_else(|e| panic!("bad prefix {text}: {e}"))
}

/// The VNet prefix the Route Server stand-ins announce.
pub const VNET: &str = "10.1.0.0/16";

/// The community the stand-ins attach to the VNet prefix.
pub const VNET_COMMUNITY: Community = Community::new(65515, 1);

/// Route Server stand-ins with short timers, announcing the VNet prefix
/// with a community (next hop: each instance's own address).
pub fn route_server_options() -> RouteServerOptions {
    RouteServerOptions {
        timers: Timers::SHORT,
        announcements: vec![Announcement::new(prefix(VNET)).with_community(VNET_COMMUNITY)],
        ..RouteServerOptions::default()
    }
}

/// The NVA's tagged host route.
pub const TAGGED: &str = "100.64.0.1/32";

/// Its community and large community.
pub const TAGGED_COMMUNITY: Community = Community::new(65001, 100);
/// See [`TAGGED_COMMUNITY`].
pub const TAGGED_LARGE: LargeCommunity = LargeCommunity::new(65001, 1, 1);

/// An NVA-side speaker with short timers announcing a default route and a
/// tagged host route (next hop: the NVA).
pub fn nva_options() -> NvaSpeakerOptions {
    NvaSpeakerOptions {
        timers: Timers::SHORT,
        announcements: vec![
            Announcement::new(prefix("0.0.0.0/0")),
            Announcement::new(prefix(TAGGED))
                .with_community(TAGGED_COMMUNITY)
                .with_large_community(TAGGED_LARGE),
        ],
        ..NvaSpeakerOptions::default()
    }
}

/// Unwraps `result`, or panics with the error and the diagnostics (daemon
/// logs) produced by `context`.
pub fn check<T, E: Display>(result: Result<T, E>, context: impl FnOnce() -> String) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{e}\n{}", context()),
    }
}

/// A lab scenario's name and clock: failures name the test and carry the
/// daemons' logs (made only when needed), and each step's duration shows
/// with `--nocapture`.
pub struct Steps {
    /// The test's name, for messages.
    pub test: &'static str,
    started: Instant,
    step_started: Instant,
}

impl Steps {
    /// The scenario `test` began at `started`; its first step starts now.
    pub fn new(test: &'static str, started: Instant) -> Self {
        Self {
            test,
            started,
            step_started: Instant::now(),
        }
    }

    /// Unwraps `result`, or fails the test with `logs()`.
    pub fn ok<T, E: Display>(&self, result: Result<T, E>, logs: impl FnOnce() -> String) -> T {
        match result {
            Ok(value) => value,
            Err(e) => panic!("{}: {e}\n{}", self.test, logs()),
        }
    }

    /// Fails the test with `logs()` unless `condition`.
    pub fn ensure(&self, condition: bool, what: impl Display, logs: impl FnOnce() -> String) {
        if !condition {
            panic!("{}: {what}\n{}", self.test, logs());
        }
    }

    /// Marks the end of a step.
    pub fn done(&mut self, step: &str) {
        eprintln!(
            "{}: {step} ok in {:.1?} (total {:.1?})",
            self.test,
            self.step_started.elapsed(),
            self.started.elapsed()
        );
        self.step_started = Instant::now();
    }
}
