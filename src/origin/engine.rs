//! The origination decisions of all routes: probe reports and time in,
//! [`OriginEvent`]s out. Pure (no I/O, no clock of its own): the runtime in
//! `super` feeds it, and tests drive it with explicit timestamps.

use bgp_proto::Prefix;
use tokio::time::Instant;
use tracing::info;

use super::config::{CheckConfig, OriginKind, OriginRoute};
use super::health::{Hysteresis, Outcome};
use super::vip::NextHopSelector;
use crate::config::{NextHopConfig, RouteConfig};
use crate::control::{HealthCheck, HealthState};

/// The desired state of one originated prefix changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginEvent {
    /// Originate `prefix` as `route` (replacing what was originated for it:
    /// one UPDATE), or stop originating it (`None`: withdraw).
    Set {
        /// The prefix.
        prefix: Prefix,
        /// What to announce, `None` to withdraw.
        route: Option<RouteConfig>,
    },
}

/// Index of a check, in the order of [`Engine::checks`].
pub type CheckId = usize;

/// One probe's result as the engine takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Pass, fail or maintenance.
    pub outcome: Outcome,
    /// What happened, in words (`"connection refused"`).
    pub detail: String,
}

/// What `nvabgp health` shows of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    /// The check's name.
    pub name: String,
    /// `tcp`, `http`, `https`, `exec`.
    pub kind: &'static str,
    /// What it probes.
    pub target: String,
    /// Current state.
    pub state: HealthState,
    /// When the state last changed; `None` before the first result.
    pub last_change: Option<Instant>,
    /// The last result in words.
    pub detail: Option<String>,
}

impl CheckStatus {
    /// The control API's view at time `now`.
    pub fn to_api(&self, now: Instant) -> HealthCheck {
        HealthCheck {
            name: self.name.clone(),
            kind: self.kind.to_string(),
            target: self.target.clone(),
            state: self.state,
            last_change_secs: self
                .last_change
                .map(|t| now.saturating_duration_since(t).as_secs()),
            detail: self.detail.clone(),
        }
    }
}

enum Gate {
    Static,
    Anycast {
        check: CheckId,
        failure_prepend: Option<u8>,
    },
    NextHopIp {
        selector: NextHopSelector,
        /// Per candidate.
        next_hops: Vec<NextHopConfig>,
    },
}

struct RouteSlot {
    base: RouteConfig,
    gate: Gate,
    /// What the last event said (`None`: withdrawn or never announced).
    advertised: Option<RouteConfig>,
}

struct CheckSlot {
    config: CheckConfig,
    route: usize,
    /// Candidate index within a VIP.
    candidate: usize,
    hysteresis: Hysteresis,
    status: CheckStatus,
}

/// The decisions of every originated route.
pub struct Engine {
    routes: Vec<RouteSlot>,
    checks: Vec<CheckSlot>,
}

impl Engine {
    /// An engine for `routes`, nothing advertised yet, every check of
    /// unknown health.
    pub fn new(routes: Vec<OriginRoute>) -> Self {
        let mut slots = Vec::with_capacity(routes.len());
        let mut checks = Vec::new();
        for (index, r) in routes.into_iter().enumerate() {
            let mut add_check = |config: CheckConfig, candidate: usize| {
                let id = checks.len();
                checks.push(CheckSlot {
                    hysteresis: Hysteresis::new(config.rise, config.fall),
                    status: CheckStatus {
                        name: config.name.clone(),
                        kind: config.probe.kind(),
                        target: config.probe.target(),
                        state: HealthState::Unknown,
                        last_change: None,
                        detail: None,
                    },
                    config,
                    route: index,
                    candidate,
                });
                id
            };
            let gate = match r.kind {
                OriginKind::Static => Gate::Static,
                OriginKind::Anycast {
                    check,
                    failure_prepend,
                } => Gate::Anycast {
                    check: add_check(check, 0),
                    failure_prepend,
                },
                OriginKind::NextHopIp(v) => {
                    let priorities: Vec<u32> = v.candidates.iter().map(|c| c.priority).collect();
                    let next_hops = v.candidates.iter().map(|c| c.next_hop).collect();
                    for (i, c) in v.candidates.into_iter().enumerate() {
                        add_check(c.check, i);
                    }
                    Gate::NextHopIp {
                        selector: NextHopSelector::new(&priorities, v.preempt, v.min_hold),
                        next_hops,
                    }
                }
            };
            slots.push(RouteSlot {
                base: r.route,
                gate,
                advertised: None,
            });
        }
        Self {
            routes: slots,
            checks,
        }
    }

    /// The checks to run, with their ids.
    pub fn checks(&self) -> impl Iterator<Item = (CheckId, &CheckConfig)> {
        self.checks.iter().enumerate().map(|(i, c)| (i, &c.config))
    }

    /// The initial events: static routes, and anycast routes that stay
    /// announced (prepended) while failing. Health-gated routes wait for
    /// their checks.
    pub fn start(&mut self, now: Instant) -> Vec<OriginEvent> {
        let mut events = Vec::new();
        for index in 0..self.routes.len() {
            self.reconcile(index, now, &mut events);
        }
        events
    }

    /// Takes the result of one probe of check `id`.
    pub fn on_report(&mut self, id: CheckId, report: Report, now: Instant) -> Vec<OriginEvent> {
        let mut events = Vec::new();
        let Some(check) = self.checks.get_mut(id) else {
            return events;
        };
        check.status.detail = Some(report.detail);
        let Some(state) = check.hysteresis.record(report.outcome) else {
            return events;
        };
        check.status.state = state;
        check.status.last_change = Some(now);
        info!(
            check = %check.config.name,
            state = state.name(),
            detail = check.status.detail.as_deref().unwrap_or(""),
            "health check changed state"
        );
        let (route, candidate) = (check.route, check.candidate);
        if let Some(RouteSlot {
            gate: Gate::NextHopIp { selector, .. },
            ..
        }) = self.routes.get_mut(route)
        {
            selector.set_health(candidate, state);
        }
        self.reconcile(route, now, &mut events);
        events
    }

    /// Re-evaluates the routes whose held change is due at `now`.
    pub fn on_timer(&mut self, now: Instant) -> Vec<OriginEvent> {
        let mut events = Vec::new();
        for index in 0..self.routes.len() {
            let due = match &self.routes[index].gate {
                Gate::NextHopIp { selector, .. } => selector.deadline().is_some_and(|d| d <= now),
                _ => false,
            };
            if due {
                self.reconcile(index, now, &mut events);
            }
        }
        events
    }

    /// The earliest time [`on_timer`](Self::on_timer) has work.
    pub fn deadline(&self) -> Option<Instant> {
        self.routes
            .iter()
            .filter_map(|r| match &r.gate {
                Gate::NextHopIp { selector, .. } => selector.deadline(),
                _ => None,
            })
            .min()
    }

    /// Every check's status, in [`checks`](Self::checks) order.
    pub fn health(&self) -> Vec<CheckStatus> {
        self.checks.iter().map(|c| c.status.clone()).collect()
    }

    /// What is currently advertised, per configured route.
    pub fn advertised(&self) -> Vec<(Prefix, Option<RouteConfig>)> {
        self.routes
            .iter()
            .map(|r| (r.base.prefix, r.advertised.clone()))
            .collect()
    }

    /// Decides route `index` at `now` and emits an event if what it should
    /// advertise differs from what was last sent: so one event per real
    /// change, never a repeat.
    fn reconcile(&mut self, index: usize, now: Instant, events: &mut Vec<OriginEvent>) {
        let checks = &self.checks;
        let Some(slot) = self.routes.get_mut(index) else {
            return;
        };
        let want = match &mut slot.gate {
            Gate::Static => Some(slot.base.clone()),
            Gate::Anycast {
                check,
                failure_prepend,
            } => {
                let up = checks
                    .get(*check)
                    .is_some_and(|c| c.status.state == HealthState::Up);
                if up {
                    Some(slot.base.clone())
                } else {
                    failure_prepend.map(|n| RouteConfig {
                        prepend: slot.base.prepend.saturating_add(n),
                        ..slot.base.clone()
                    })
                }
            }
            Gate::NextHopIp {
                selector,
                next_hops,
            } => {
                selector.evaluate(now);
                selector
                    .active()
                    .and_then(|i| next_hops.get(i))
                    .map(|nh| RouteConfig {
                        next_hop: *nh,
                        ..slot.base.clone()
                    })
            }
        };
        if want == slot.advertised {
            return;
        }
        match &want {
            Some(r) => info!(
                prefix = %r.prefix,
                next_hop = %crate::control::NextHop::from(r.next_hop),
                prepend = r.prepend,
                "originating route"
            ),
            None => info!(prefix = %slot.base.prefix, "withdrawing route"),
        }
        slot.advertised = want.clone();
        events.push(OriginEvent::Set {
            prefix: slot.base.prefix,
            route: want,
        });
    }
}
