//! Route origination with health checks: static routes, health-gated
//! anycast routes, and "next hop IP" VIPs that follow their healthiest
//! candidate.
//!
//! ```text
//!  check task ─┐                                       ┌─► OriginEvent ─► daemon: local_routes,
//!  check task ─┼─ (CheckId, Report) ─► engine task ────┤                  sync_prefixes_all(&[prefix])
//!  check task ─┘   one per check       (Engine: pure)  └─► watch: Vec<CheckStatus> ─► OriginHandle::health()
//! ```
//!
//! Each health check runs in its own task (probe every `interval`, bounded
//! by `timeout`, probes of one check never overlap), so a slow backend
//! delays nothing else and no BGP session ever waits on a check. Results go
//! to one engine task that owns every decision ([`Engine`], pure: the
//! rise/fall counters of [`health`], the VIP rules of [`vip`]) and emits
//! [`OriginEvent`]s.
//!
//! # Route kinds
//!
//! * `static`: announced from the start, while the agent runs.
//! * `anycast`: announced while its check is up. While it is down (or has
//!   no result yet) the route is withdrawn, or with `failure_prepend = N`
//!   announced with N more copies of our ASN, a backup path
//!   (active/passive). The check's `maintenance_file`, while it exists,
//!   counts as a failure at once: an operator's drain of one route.
//! * `next-hop-ip`: a VIP announced with the best healthy candidate as next
//!   hop (rules in [`vip`]): a failover is one event, which the daemon sends
//!   as one UPDATE replacing the route (implicit withdraw, RFC 4271 §3.1);
//!   the route is withdrawn only when no candidate is healthy; `preempt` and
//!   `min_hold` limit voluntary changes, since Azure applies about one
//!   route change per 30 s.
//!
//! # Start
//!
//! Static routes are sent at once. Health-gated routes start withdrawn
//! (or, with `failure_prepend`, announced prepended) and are announced
//! after `rise` consecutive passes: a route never attracts traffic before
//! its backend has proven healthy. A VIP also waits until every candidate
//! ranking above the best healthy one has a result, so start-up costs one
//! change, not two.
//!
//! # For the daemon
//!
//! ```ignore
//! let (origin_tx, mut origin_rx) = mpsc::channel(64);
//! let origin = origin::spawn(config.health_routes.clone(), origin_tx);
//! // in the select! loop:
//! Some(OriginEvent::Set { prefix, route }) = origin_rx.recv() => {
//!     match route {
//!         Some(route) => { local_routes.insert(prefix, LocalRoute { route }); }
//!         None => { local_routes.remove(&prefix); }
//!     }
//!     sync_prefixes_all(&[prefix]).await;   // one UPDATE per Established peer
//! }
//! // Request::Health => Response::Health(origin.health()),
//! ```
//!
//! * Events are exact: each one is a real change of that prefix's desired
//!   state (never a repeat of the previous one), so each becomes exactly one
//!   UPDATE per peer. Peers that come up later get the current state from
//!   `local_routes` like any other local route.
//! * `Config::routes` stays the static routes the daemon originates itself;
//!   `Config::health_routes` (anycast and next-hop-ip) go to [`spawn`].
//!   [`spawn`] also takes `static` routes, so a daemon may route
//!   everything through it instead.
//! * The origin task owns the prefixes it was given: the daemon refuses
//!   `announce`, `withdraw` and `set-next-hop` on them (they would be
//!   overwritten by the next event); the operator's levers are the
//!   configuration and each check's maintenance file. A daemon-wide
//!   `drain` composes (it applies at export, after origination).
//! * The channel is bounded; while the daemon is busy, the engine waits on
//!   `send` (checks keep probing, their results queue).
//! * Dropping the [`OriginHandle`] stops the engine and every check.

pub mod config;
pub mod engine;
pub mod health;
pub mod probe;
pub mod tls;
pub mod vip;

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::debug;

pub use config::{Candidate, CheckConfig, NextHopIpConfig, OriginKind, OriginRoute, Probe};
pub use engine::{CheckId, CheckStatus, Engine, OriginEvent, Report};
pub use health::Outcome;

use crate::control::HealthCheck;

/// The running origination: health snapshots and the task's lifetime.
#[derive(Debug)]
pub struct OriginHandle {
    health: watch::Receiver<Vec<CheckStatus>>,
    task: JoinHandle<()>,
}

impl OriginHandle {
    /// Every check's state now, for `Request::Health`.
    pub fn health(&self) -> Vec<HealthCheck> {
        let now = Instant::now();
        self.health.borrow().iter().map(|s| s.to_api(now)).collect()
    }

    /// A receiver that sees every new snapshot (after each probe result).
    pub fn subscribe(&self) -> watch::Receiver<Vec<CheckStatus>> {
        self.health.clone()
    }
}

impl Drop for OriginHandle {
    fn drop(&mut self) {
        // The check tasks live in the engine task's JoinSet: they go too.
        self.task.abort();
    }
}

/// Starts the checks and the engine for `routes`; events go to `events`,
/// the initial ones (static routes) first. Must be called inside a Tokio
/// runtime.
pub fn spawn(routes: Vec<OriginRoute>, events: mpsc::Sender<OriginEvent>) -> OriginHandle {
    let mut engine = Engine::new(routes);
    let initial = engine.start(Instant::now());
    let (health_tx, health_rx) = watch::channel(engine.health());
    let checks: Vec<(CheckId, CheckConfig)> =
        engine.checks().map(|(id, c)| (id, c.clone())).collect();
    let task = tokio::spawn(async move {
        for event in initial {
            if events.send(event).await.is_err() {
                return;
            }
        }
        let (report_tx, reports) = mpsc::channel(64.max(checks.len() * 2));
        let mut probes = JoinSet::new();
        for (id, check) in checks {
            probes.spawn(run_check(id, check, report_tx.clone()));
        }
        drop(report_tx);
        run_engine(engine, reports, events, health_tx).await;
        probes.abort_all();
    });
    OriginHandle {
        health: health_rx,
        task,
    }
}

async fn run_engine(
    mut engine: Engine,
    mut reports: mpsc::Receiver<(CheckId, Report)>,
    events: mpsc::Sender<OriginEvent>,
    health: watch::Sender<Vec<CheckStatus>>,
) {
    loop {
        let deadline = engine.deadline();
        let out = tokio::select! {
            report = reports.recv() => {
                let Some((id, report)) = report else {
                    return;
                };
                let out = engine.on_report(id, report, Instant::now());
                health.send_replace(engine.health());
                out
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                engine.on_timer(Instant::now())
            }
        };
        for event in out {
            if events.send(event).await.is_err() {
                debug!("origin events receiver gone: stopping");
                return;
            }
        }
    }
}

/// One check's loop: probe every `interval` (the maintenance file first),
/// report each result.
async fn run_check(id: CheckId, check: CheckConfig, reports: mpsc::Sender<(CheckId, Report)>) {
    let tls = match &check.probe {
        Probe::Http(h) => tls::Tls::for_probe(h),
        _ => tls::Tls::none(),
    };
    let mut ticker = tokio::time::interval(check.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let report = match &check.maintenance_file {
            Some(path) if tokio::fs::try_exists(path).await.unwrap_or(false) => Report {
                outcome: Outcome::Maintenance,
                detail: format!("maintenance file {} present", path.display()),
            },
            _ => match probe::run(&check.probe, check.timeout, &tls).await {
                Ok(detail) => Report {
                    outcome: Outcome::Pass,
                    detail,
                },
                Err(detail) => Report {
                    outcome: Outcome::Fail,
                    detail,
                },
            },
        };
        if reports.send((id, report)).await.is_err() {
            return;
        }
    }
}
