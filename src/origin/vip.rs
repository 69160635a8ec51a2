//! The next-hop choice of a `next-hop-ip` VIP: a pure state machine over
//! the candidates' health and explicit timestamps.
//!
//! Rules, in order:
//! 1. Candidates rank by priority (higher first), then configuration order.
//! 2. Nothing announced: announce the best healthy candidate at once, but
//!    not while a candidate ranking above it has no result yet (start-up:
//!    announcing a lower candidate first would cost a second change moments
//!    later, and Azure applies about one change per 30 s). That wait ends at
//!    that candidate's first failure or its `rise`-th pass.
//! 3. The active candidate fails: move at once to the best healthy
//!    candidate (one UPDATE that replaces the route), or withdraw when none
//!    is healthy. `min_hold` does not delay this: it would only keep
//!    traffic on a dead next hop.
//! 4. The active candidate is healthy and one ranking above it is healthy
//!    too: with `preempt`, move to it once `min_hold` has passed since the
//!    last change (announce, move or withdraw); without, stay.

use std::time::Duration;

use tokio::time::Instant;

use crate::control::HealthState;

/// A change of the announced next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Announce (or move) with candidate `.0` as next hop.
    Active(usize),
    /// Withdraw: no candidate is healthy.
    Withdrawn,
}

/// The choice of one VIP's next hop.
#[derive(Debug, Clone)]
pub struct NextHopSelector {
    /// Candidate indices, best first.
    ranked: Vec<usize>,
    health: Vec<HealthState>,
    preempt: bool,
    min_hold: Duration,
    active: Option<usize>,
    changed_at: Option<Instant>,
}

impl NextHopSelector {
    /// A selector over candidates with these priorities (configuration
    /// order), all of unknown health, nothing announced.
    pub fn new(priorities: &[u32], preempt: bool, min_hold: Duration) -> Self {
        let mut ranked: Vec<usize> = (0..priorities.len()).collect();
        // Stable: equal priorities keep configuration order.
        ranked.sort_by_key(|&i| std::cmp::Reverse(priorities[i]));
        Self {
            ranked,
            health: vec![HealthState::Unknown; priorities.len()],
            preempt,
            min_hold,
            active: None,
            changed_at: None,
        }
    }

    /// The announced candidate, if any.
    pub fn active(&self) -> Option<usize> {
        self.active
    }

    /// Records candidate `index`'s health (call [`evaluate`](Self::evaluate)
    /// afterwards). Out-of-range indices are ignored.
    pub fn set_health(&mut self, index: usize, state: HealthState) {
        if let Some(h) = self.health.get_mut(index) {
            *h = state;
        }
    }

    fn is_up(&self, index: usize) -> bool {
        self.health.get(index) == Some(&HealthState::Up)
    }

    /// Position of candidate `index` in the ranking (0 = best).
    fn rank(&self, index: usize) -> usize {
        self.ranked
            .iter()
            .position(|&i| i == index)
            .unwrap_or(usize::MAX)
    }

    fn best_up(&self) -> Option<usize> {
        self.ranked.iter().copied().find(|&i| self.is_up(i))
    }

    /// When a held preemption becomes due: the time to call
    /// [`evaluate`](Self::evaluate) again even if no health changes.
    pub fn deadline(&self) -> Option<Instant> {
        let active = self.active?;
        let best = self.best_up()?;
        if !self.preempt || !self.is_up(active) || self.rank(best) >= self.rank(active) {
            return None;
        }
        Some(self.changed_at? + self.min_hold)
    }

    fn change(&mut self, to: Option<usize>, now: Instant) -> Option<Selection> {
        self.active = to;
        self.changed_at = Some(now);
        Some(to.map_or(Selection::Withdrawn, Selection::Active))
    }

    /// Applies the rules at time `now`; returns the change to make, if any.
    pub fn evaluate(&mut self, now: Instant) -> Option<Selection> {
        let best = self.best_up();
        match self.active {
            None => {
                let best = best?;
                let better_unknown = self
                    .ranked
                    .iter()
                    .take_while(|&&i| i != best)
                    .any(|&i| self.health.get(i) == Some(&HealthState::Unknown));
                if better_unknown {
                    return None;
                }
                self.change(Some(best), now)
            }
            Some(active) if !self.is_up(active) => self.change(best, now),
            Some(active) => {
                let best = best?;
                let due = self
                    .changed_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= self.min_hold);
                if self.preempt && self.rank(best) < self.rank(active) && due {
                    self.change(Some(best), now)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState::{Down, Unknown, Up};

    const HOLD: Duration = Duration::from_secs(30);

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    /// Two candidates: 0 (priority 200, primary), 1 (priority 100).
    fn pair(preempt: bool) -> NextHopSelector {
        NextHopSelector::new(&[200, 100], preempt, HOLD)
    }

    #[test]
    fn announces_the_best_once_it_is_known() {
        let t0 = Instant::now();
        let mut s = pair(true);
        assert_eq!(s.evaluate(t0), None);
        // The secondary passes first, the primary has no result yet: wait.
        s.set_health(1, Up);
        assert_eq!(s.evaluate(t0), None);
        s.set_health(0, Up);
        assert_eq!(s.evaluate(secs(t0, 1)), Some(Selection::Active(0)));
        assert_eq!(s.evaluate(secs(t0, 2)), None);
        assert_eq!(s.active(), Some(0));
    }

    #[test]
    fn a_failed_primary_at_start_does_not_delay_the_secondary() {
        let t0 = Instant::now();
        let mut s = pair(true);
        s.set_health(1, Up);
        s.set_health(0, Down);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(1)));
    }

    #[test]
    fn failover_is_immediate_and_preemption_waits_for_the_hold() {
        let t0 = Instant::now();
        let mut s = pair(true);
        s.set_health(0, Up);
        s.set_health(1, Up);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(0)));
        // The primary fails 1 s after the announce: no hold on a failover.
        s.set_health(0, Down);
        assert_eq!(s.evaluate(secs(t0, 1)), Some(Selection::Active(1)));
        // It recovers 2 s later: held until 30 s after the failover.
        s.set_health(0, Up);
        assert_eq!(s.evaluate(secs(t0, 3)), None);
        assert_eq!(s.deadline(), Some(secs(t0, 31)));
        assert_eq!(s.evaluate(secs(t0, 30)), None);
        assert_eq!(
            s.evaluate(secs(t0, 31)),
            Some(Selection::Active(0)),
            "exactly at the deadline"
        );
        assert_eq!(s.deadline(), None);
        assert_eq!(s.evaluate(secs(t0, 32)), None);
    }

    #[test]
    fn a_held_preemption_is_cancelled_when_the_primary_fails_again() {
        let t0 = Instant::now();
        let mut s = pair(true);
        s.set_health(0, Down);
        s.set_health(1, Up);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(1)));
        s.set_health(0, Up);
        assert_eq!(s.evaluate(secs(t0, 5)), None);
        assert!(s.deadline().is_some());
        s.set_health(0, Down);
        assert_eq!(s.evaluate(secs(t0, 10)), None);
        assert_eq!(s.deadline(), None);
        assert_eq!(s.evaluate(secs(t0, 60)), None);
        assert_eq!(s.active(), Some(1));
    }

    #[test]
    fn without_preempt_the_secondary_stays_until_it_fails() {
        let t0 = Instant::now();
        let mut s = pair(false);
        s.set_health(0, Up);
        s.set_health(1, Up);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(0)));
        s.set_health(0, Down);
        assert_eq!(s.evaluate(secs(t0, 1)), Some(Selection::Active(1)));
        s.set_health(0, Up);
        assert_eq!(s.evaluate(secs(t0, 100)), None);
        assert_eq!(s.deadline(), None);
        s.set_health(1, Down);
        assert_eq!(s.evaluate(secs(t0, 101)), Some(Selection::Active(0)));
    }

    #[test]
    fn all_down_withdraws_and_one_back_announces_without_hold() {
        let t0 = Instant::now();
        let mut s = pair(true);
        s.set_health(0, Up);
        s.set_health(1, Up);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(0)));
        s.set_health(0, Down);
        assert_eq!(s.evaluate(secs(t0, 1)), Some(Selection::Active(1)));
        s.set_health(1, Down);
        assert_eq!(s.evaluate(secs(t0, 2)), Some(Selection::Withdrawn));
        assert_eq!(s.evaluate(secs(t0, 3)), None);
        // The secondary comes back first, within the hold: announced at once.
        s.set_health(1, Up);
        assert_eq!(s.evaluate(secs(t0, 4)), Some(Selection::Active(1)));
        // The primary next: a preemption, held 30 s from the announce.
        s.set_health(0, Up);
        assert_eq!(s.evaluate(secs(t0, 5)), None);
        assert_eq!(s.deadline(), Some(secs(t0, 34)));
        assert_eq!(s.evaluate(secs(t0, 34)), Some(Selection::Active(0)));
    }

    #[test]
    fn failover_follows_priority_then_configuration_order() {
        let t0 = Instant::now();
        // Priorities: 0 → 10, 1 → 50, 2 → 50, 3 → 90.
        let mut s = NextHopSelector::new(&[10, 50, 50, 90], false, HOLD);
        for i in 0..4 {
            s.set_health(i, Up);
        }
        assert_eq!(s.evaluate(t0), Some(Selection::Active(3)));
        let mut t = t0;
        for (failed, next) in [
            (3, Selection::Active(1)),
            (1, Selection::Active(2)),
            (2, Selection::Active(0)),
            (0, Selection::Withdrawn),
        ] {
            t += Duration::from_secs(1);
            s.set_health(failed, Down);
            assert_eq!(s.evaluate(t), Some(next), "after {failed} failed");
        }
        assert_eq!(s.active(), None);
    }

    #[test]
    fn a_recovering_lower_candidate_does_not_move_the_route() {
        let t0 = Instant::now();
        let mut s = pair(true);
        s.set_health(0, Up);
        s.set_health(1, Down);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(0)));
        s.set_health(1, Up);
        assert_eq!(s.evaluate(secs(t0, 100)), None);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn zero_hold_preempts_at_once() {
        let t0 = Instant::now();
        let mut s = NextHopSelector::new(&[2, 1], true, Duration::ZERO);
        s.set_health(0, Down);
        s.set_health(1, Up);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(1)));
        s.set_health(0, Up);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(0)));
    }

    #[test]
    fn unknown_candidates_below_the_best_do_not_delay() {
        let t0 = Instant::now();
        let mut s = NextHopSelector::new(&[3, 2, 1], true, HOLD);
        s.set_health(0, Up);
        assert_eq!(s.evaluate(t0), Some(Selection::Active(0)));
        assert_eq!(s.health[1], Unknown);
    }

    #[test]
    fn no_candidates_never_announce() {
        let mut s = NextHopSelector::new(&[], true, HOLD);
        s.set_health(0, Up);
        assert_eq!(s.evaluate(Instant::now()), None);
        assert_eq!(s.deadline(), None);
    }
}
