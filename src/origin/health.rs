//! Rise/fall hysteresis of one health check: a pure counter fed with probe
//! outcomes, as HAProxy's `rise`/`fall` and keepalived's
//! `rise`/`fall` work.

use crate::control::HealthState;

/// The result of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The probe succeeded.
    Pass,
    /// The probe failed (refused, timed out, wrong status, non-zero exit).
    Fail,
    /// The maintenance file exists: the check is failed at once, whatever
    /// the counters say, and must rise again from zero once it is removed.
    Maintenance,
}

/// The state of one check, moved by consecutive probe outcomes.
///
/// * `Unknown` (no result yet) becomes `Up` after `rise` consecutive
///   passes, and `Down` at the first failure: routes treat `Unknown` like
///   `Down`, so this only makes the state visible sooner.
/// * `Down` becomes `Up` after `rise` consecutive passes.
/// * `Up` becomes `Down` after `fall` consecutive failures.
/// * A maintenance outcome makes it `Down` at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    state: HealthState,
    /// Consecutive passes (while not `Up`) or failures (while `Up`).
    streak: u32,
}

impl Hysteresis {
    /// A check with no result yet. `rise` and `fall` below 1 count as 1.
    pub fn new(rise: u32, fall: u32) -> Self {
        Self {
            rise: rise.max(1),
            fall: fall.max(1),
            state: HealthState::Unknown,
            streak: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> HealthState {
        self.state
    }

    /// Records one outcome; returns the new state when it changed.
    pub fn record(&mut self, outcome: Outcome) -> Option<HealthState> {
        let before = self.state;
        match (self.state, outcome) {
            (_, Outcome::Maintenance) => {
                self.state = HealthState::Down;
                self.streak = 0;
            }
            (HealthState::Up, Outcome::Pass) => self.streak = 0,
            (HealthState::Up, Outcome::Fail) => {
                self.streak += 1;
                if self.streak >= self.fall {
                    self.state = HealthState::Down;
                    self.streak = 0;
                }
            }
            (HealthState::Down | HealthState::Unknown, Outcome::Pass) => {
                self.streak += 1;
                if self.streak >= self.rise {
                    self.state = HealthState::Up;
                    self.streak = 0;
                }
            }
            (HealthState::Down | HealthState::Unknown, Outcome::Fail) => {
                self.state = HealthState::Down;
                self.streak = 0;
            }
        }
        (self.state != before).then_some(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState::{Down, Unknown, Up};
    use Outcome::{Fail, Maintenance, Pass};

    fn run(h: &mut Hysteresis, outcomes: &[Outcome]) -> Vec<Option<HealthState>> {
        outcomes.iter().map(|o| h.record(*o)).collect()
    }

    #[test]
    fn rises_after_rise_passes_and_falls_after_fall_failures() {
        let mut h = Hysteresis::new(2, 3);
        assert_eq!(h.state(), Unknown);
        assert_eq!(run(&mut h, &[Pass, Pass]), [None, Some(Up)]);
        assert_eq!(
            run(&mut h, &[Fail, Fail, Pass, Fail, Fail, Fail]),
            [None, None, None, None, None, Some(Down)]
        );
        // A failure in between restarts the rise count.
        assert_eq!(
            run(&mut h, &[Pass, Fail, Pass, Pass]),
            [None, None, None, Some(Up)]
        );
    }

    #[test]
    fn unknown_goes_down_at_the_first_failure() {
        let mut h = Hysteresis::new(3, 3);
        assert_eq!(run(&mut h, &[Pass, Fail]), [None, Some(Down)]);
        assert_eq!(run(&mut h, &[Pass, Pass, Pass]), [None, None, Some(Up)]);
    }

    #[test]
    fn maintenance_is_immediate_and_resets_the_counters() {
        let mut h = Hysteresis::new(2, 5);
        run(&mut h, &[Pass, Pass]);
        assert_eq!(h.record(Maintenance), Some(Down));
        assert_eq!(h.record(Maintenance), None);
        assert_eq!(run(&mut h, &[Pass, Pass]), [None, Some(Up)]);
        // A pass before maintenance does not count towards rising after it.
        let mut h = Hysteresis::new(2, 1);
        run(&mut h, &[Fail, Pass]);
        h.record(Maintenance);
        assert_eq!(run(&mut h, &[Pass, Pass]), [None, Some(Up)]);
    }

    #[test]
    fn rise_and_fall_of_one() {
        let mut h = Hysteresis::new(1, 1);
        assert_eq!(
            run(&mut h, &[Pass, Pass, Fail, Fail, Pass]),
            [Some(Up), None, Some(Down), None, Some(Up)]
        );
        let mut h = Hysteresis::new(0, 0);
        assert_eq!(run(&mut h, &[Pass, Fail]), [Some(Up), Some(Down)]);
    }
}
