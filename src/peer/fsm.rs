//! The BGP finite state machine of RFC 4271 §8, as a pure function.
//!
//! [`Fsm::handle`] takes one event and returns the actions the session task
//! must carry out (send, arm or stop a timer, connect, drop the
//! connection); it does no I/O and reads no clock, so every transition is
//! unit-tested without sockets. Event names and numbers follow RFC 4271
//! §8.1; the optional events this implementation does not use
//! (DelayOpen, IdleHoldTimer as a separate event, DampPeerOscillations)
//! are left out. Checking an OPEN (peer AS, identifier, hold time,
//! capabilities) is the session task's job: the FSM gets either
//! [`Event::BgpOpen`] with the negotiated hold time or
//! [`Event::BgpOpenMsgErr`] with the NOTIFICATION to send.

use std::time::Duration;

use bgp_proto::Notification;
use bgp_proto::iana::{CeaseSubcode, ErrorCode, FsmSubcode};

/// The six states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Refuses connections; waits for a start event.
    Idle,
    /// Waiting for an outgoing TCP connection to complete.
    Connect,
    /// Listening for the peer to connect, ConnectRetry timer running.
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the first KEEPALIVE.
    OpenConfirm,
    /// Exchanging UPDATEs.
    Established,
}

impl State {
    /// The RFC name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Connect => "Connect",
            Self::Active => "Active",
            Self::OpenSent => "OpenSent",
            Self::OpenConfirm => "OpenConfirm",
            Self::Established => "Established",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// FSM input events (RFC 4271 §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Event 1: ManualStart (the operator or the agent's start).
    ManualStart,
    /// Event 2: ManualStop, with the NOTIFICATION to send if a connection
    /// is up (Cease / Administrative Shutdown with an RFC 8203 message).
    ManualStop(Notification),
    /// Event 3: AutomaticStart (restart after a failure, when the session
    /// task's back-off elapsed).
    AutomaticStart,
    /// Event 5: ManualStart_with_PassiveTcpEstablishment.
    ManualStartPassive,
    /// Event 9: ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10: HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11: KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Events 16/17: Tcp_CR_Acked / TcpConnectionConfirmed: a connection
    /// is up (ours completed or the peer's accepted).
    TcpConnectionUp,
    /// Event 18: TcpConnectionFails.
    TcpConnectionFails,
    /// Event 19: BGPOpen, already checked; carries the negotiated hold time
    /// (seconds, 0 or >= 3).
    BgpOpen {
        /// The smaller of the two hold times.
        hold_time: u16,
    },
    /// Event 21: BGPHeaderErr, or any message that cannot be decoded.
    BgpHeaderErr(Notification),
    /// Event 22: BGPOpenMsgErr (bad peer AS, identifier, hold time, ...).
    BgpOpenMsgErr(Notification),
    /// Event 23: OpenCollisionDump: this connection lost a collision
    /// (RFC 4271 §6.8).
    OpenCollisionDump,
    /// Event 24: NotifMsgVerErr (a NOTIFICATION about the version).
    NotifMsgVerErr,
    /// Event 25: NotifMsg.
    NotifMsg,
    /// Event 26: KeepAliveMsg.
    KeepAliveMsg,
    /// Event 27: UpdateMsg (also ROUTE-REFRESH, which has the same effect
    /// on the FSM: it restarts the hold timer).
    UpdateMsg,
    /// Event 28: UpdateMsgErr, with its NOTIFICATION.
    UpdateMsgErr(Notification),
}

/// What the session task must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open an outgoing TCP connection.
    Connect,
    /// Close the connection (and abandon an outgoing attempt).
    DropConnection,
    /// Send our OPEN.
    SendOpen,
    /// Send a KEEPALIVE.
    SendKeepalive,
    /// Send this NOTIFICATION (then the connection is dropped by a
    /// following [`Action::DropConnection`]).
    SendNotification(Notification),
    /// Arm the ConnectRetry timer (the task adds back-off and jitter).
    StartConnectRetry,
    /// Stop the ConnectRetry timer.
    StopConnectRetry,
    /// Arm the hold timer; `None` stops it (negotiated hold time 0).
    SetHoldTimer(Option<Duration>),
    /// Arm the keepalive timer; `None` stops it.
    SetKeepaliveTimer(Option<Duration>),
    /// The session reached Established: sync routes.
    Established,
    /// The session left Established (or never got there): withdraw what
    /// the peer sent, and restart later unless stopped by hand.
    SessionDown,
}

/// The large hold time used while waiting for the peer's OPEN (RFC 4271
/// §8.2.2 suggests 4 minutes).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// The state machine of one session.
#[derive(Debug, Clone)]
pub struct Fsm {
    state: State,
    /// Never connect out (RFC 4271 PassiveTcpEstablishment).
    passive: bool,
    /// Negotiated hold time.
    hold_time: u16,
    /// ConnectRetryCounter (RFC 4271 §8.1.1), reset on ManualStop.
    connect_retry_counter: u32,
}

fn fsm_error(state: State) -> Notification {
    let sub = match state {
        State::OpenSent => FsmSubcode::UnexpectedMessageInOpenSent,
        State::OpenConfirm => FsmSubcode::UnexpectedMessageInOpenConfirm,
        State::Established => FsmSubcode::UnexpectedMessageInEstablished,
        _ => FsmSubcode::Unspecified,
    };
    Notification::new(ErrorCode::FiniteStateMachine(sub), Vec::new())
}

fn hold_expired() -> Notification {
    Notification::new(ErrorCode::HoldTimerExpired(0), Vec::new())
}

impl Fsm {
    /// A session in Idle. `passive` sessions never connect out.
    pub fn new(passive: bool) -> Self {
        Self {
            state: State::Idle,
            passive,
            hold_time: 0,
            connect_retry_counter: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The negotiated hold time in seconds (meaningful from OpenConfirm).
    pub fn hold_time(&self) -> u16 {
        self.hold_time
    }

    /// How many times in a row the session failed (ConnectRetryCounter).
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    fn hold(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from(self.hold_time)))
    }

    fn keepalive(&self) -> Option<Duration> {
        // RFC 4271 §10: one third of the hold time.
        (self.hold_time > 0).then(|| Duration::from_secs_f64(f64::from(self.hold_time) / 3.0))
    }

    /// Handles one event, returning the actions in the order to perform
    /// them.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        use Action as A;
        use State as S;
        let state = self.state;
        match (state, event) {
            // ---- Idle (§8.2.2): only start events matter.
            (S::Idle, Event::ManualStart | Event::AutomaticStart) if !self.passive => {
                self.state = S::Connect;
                vec![A::StartConnectRetry, A::Connect]
            }
            (S::Idle, Event::ManualStart | Event::AutomaticStart | Event::ManualStartPassive) => {
                self.state = S::Active;
                vec![A::StartConnectRetry]
            }
            (S::Idle, _) => vec![],

            // ---- Manual stop, any other state.
            (_, Event::ManualStop(n)) => {
                self.connect_retry_counter = 0;
                self.enter_idle(
                    matches!(state, S::OpenSent | S::OpenConfirm | S::Established).then_some(n),
                )
            }

            // ---- Connect and Active.
            (S::Connect | S::Active, Event::ConnectRetryTimerExpires) => {
                if self.passive {
                    self.state = S::Active;
                    return vec![A::StartConnectRetry];
                }
                self.state = S::Connect;
                vec![A::DropConnection, A::StartConnectRetry, A::Connect]
            }
            (S::Connect | S::Active, Event::TcpConnectionUp) => {
                self.state = S::OpenSent;
                vec![
                    A::StopConnectRetry,
                    A::SendOpen,
                    A::SetHoldTimer(Some(OPEN_HOLD_TIME)),
                ]
            }
            (S::Connect, Event::TcpConnectionFails) => {
                // §8.2.2: Connect goes to Active and keeps listening.
                self.state = S::Active;
                vec![A::DropConnection, A::StartConnectRetry]
            }
            (S::Active, Event::TcpConnectionFails) => {
                self.connect_retry_counter += 1;
                self.state = S::Idle;
                vec![A::DropConnection, A::StopConnectRetry, A::SessionDown]
            }
            (S::Connect | S::Active, Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n)) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(n))
            }
            (S::Connect | S::Active, Event::NotifMsgVerErr) => {
                self.state = S::Idle;
                vec![A::StopConnectRetry, A::DropConnection, A::SessionDown]
            }
            (S::Connect | S::Active, _) => {
                self.connect_retry_counter += 1;
                self.enter_idle(None)
            }

            // ---- OpenSent.
            (S::OpenSent, Event::TcpConnectionFails) => {
                self.state = S::Active;
                vec![
                    A::DropConnection,
                    A::SetHoldTimer(None),
                    A::StartConnectRetry,
                ]
            }
            (S::OpenSent, Event::BgpOpen { hold_time }) => {
                self.hold_time = hold_time;
                self.state = S::OpenConfirm;
                vec![
                    A::StopConnectRetry,
                    A::SendKeepalive,
                    A::SetKeepaliveTimer(self.keepalive()),
                    A::SetHoldTimer(self.hold()),
                ]
            }
            (S::OpenSent, Event::HoldTimerExpires) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(hold_expired()))
            }
            (S::OpenSent | S::OpenConfirm, Event::OpenCollisionDump) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(Notification::new(
                    ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
                    Vec::new(),
                )))
            }
            (S::OpenSent, Event::NotifMsgVerErr) => {
                self.state = S::Idle;
                vec![A::StopConnectRetry, A::DropConnection, A::SessionDown]
            }

            // ---- OpenConfirm.
            (S::OpenConfirm, Event::KeepaliveTimerExpires) => {
                vec![A::SendKeepalive, A::SetKeepaliveTimer(self.keepalive())]
            }
            (S::OpenConfirm, Event::KeepAliveMsg) => {
                self.state = S::Established;
                vec![A::SetHoldTimer(self.hold()), A::Established]
            }
            (S::OpenConfirm, Event::NotifMsgVerErr) => {
                self.state = S::Idle;
                vec![A::StopConnectRetry, A::DropConnection, A::SessionDown]
            }
            (S::OpenConfirm, Event::HoldTimerExpires) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(hold_expired()))
            }

            // ---- Established.
            (S::Established, Event::KeepaliveTimerExpires) => {
                vec![A::SendKeepalive, A::SetKeepaliveTimer(self.keepalive())]
            }
            (S::Established, Event::KeepAliveMsg | Event::UpdateMsg) => {
                vec![A::SetHoldTimer(self.hold())]
            }
            (S::Established, Event::HoldTimerExpires) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(hold_expired()))
            }
            (S::Established, Event::UpdateMsgErr(n)) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(n))
            }

            // ---- Common to OpenSent, OpenConfirm, Established.
            (_, Event::NotifMsg | Event::NotifMsgVerErr | Event::TcpConnectionFails) => {
                self.connect_retry_counter += 1;
                self.enter_idle(None)
            }
            (_, Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n)) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(n))
            }
            // Anything else is an FSM error (§8.2.2, RFC 6608 subcodes).
            (_, _) => {
                self.connect_retry_counter += 1;
                self.enter_idle(Some(fsm_error(state)))
            }
        }
    }

    fn enter_idle(&mut self, notify: Option<Notification>) -> Vec<Action> {
        let was_up = self.state;
        self.state = State::Idle;
        self.hold_time = 0;
        let mut v = Vec::with_capacity(6);
        if let Some(n) = notify {
            v.push(Action::SendNotification(n));
        }
        v.extend([
            Action::StopConnectRetry,
            Action::SetHoldTimer(None),
            Action::SetKeepaliveTimer(None),
            Action::DropConnection,
        ]);
        if was_up != State::Idle {
            v.push(Action::SessionDown);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;

    fn up(fsm: &mut Fsm, hold: u16) {
        fsm.handle(Event::ManualStart);
        fsm.handle(Event::TcpConnectionUp);
        fsm.handle(Event::BgpOpen { hold_time: hold });
        fsm.handle(Event::KeepAliveMsg);
        assert_eq!(fsm.state(), State::Established);
    }

    #[test]
    fn active_start_connects_and_passive_listens() {
        let mut f = Fsm::new(false);
        assert_eq!(
            f.handle(Event::ManualStart),
            [A::StartConnectRetry, A::Connect]
        );
        assert_eq!(f.state(), State::Connect);
        let mut p = Fsm::new(true);
        assert_eq!(p.handle(Event::ManualStart), [A::StartConnectRetry]);
        assert_eq!(p.state(), State::Active);
        assert_eq!(
            p.handle(Event::ConnectRetryTimerExpires),
            [A::StartConnectRetry]
        );
        assert_eq!(p.state(), State::Active);
    }

    #[test]
    fn full_handshake_sets_negotiated_timers() {
        let mut f = Fsm::new(false);
        f.handle(Event::ManualStart);
        assert_eq!(
            f.handle(Event::TcpConnectionUp),
            [
                A::StopConnectRetry,
                A::SendOpen,
                A::SetHoldTimer(Some(OPEN_HOLD_TIME))
            ]
        );
        let acts = f.handle(Event::BgpOpen { hold_time: 9 });
        assert_eq!(f.state(), State::OpenConfirm);
        assert!(acts.contains(&A::SendKeepalive));
        assert!(acts.contains(&A::SetKeepaliveTimer(Some(Duration::from_secs(3)))));
        assert!(acts.contains(&A::SetHoldTimer(Some(Duration::from_secs(9)))));
        assert_eq!(
            f.handle(Event::KeepAliveMsg),
            [
                A::SetHoldTimer(Some(Duration::from_secs(9))),
                A::Established
            ]
        );
        // Updates and keepalives restart the hold timer.
        assert_eq!(
            f.handle(Event::UpdateMsg),
            [A::SetHoldTimer(Some(Duration::from_secs(9)))]
        );
    }

    #[test]
    fn hold_time_zero_disables_both_timers() {
        let mut f = Fsm::new(false);
        f.handle(Event::ManualStart);
        f.handle(Event::TcpConnectionUp);
        let acts = f.handle(Event::BgpOpen { hold_time: 0 });
        assert!(acts.contains(&A::SetKeepaliveTimer(None)));
        assert!(acts.contains(&A::SetHoldTimer(None)));
    }

    #[test]
    fn hold_timer_expiry_sends_notification_and_goes_down() {
        let mut f = Fsm::new(false);
        up(&mut f, 9);
        let acts = f.handle(Event::HoldTimerExpires);
        assert_eq!(
            acts[0],
            A::SendNotification(Notification::new(ErrorCode::HoldTimerExpired(0), vec![]))
        );
        assert!(acts.contains(&A::DropConnection));
        assert_eq!(acts.last(), Some(&A::SessionDown));
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), 1);
    }

    #[test]
    fn unexpected_messages_get_rfc6608_subcodes() {
        let mut f = Fsm::new(false);
        f.handle(Event::ManualStart);
        f.handle(Event::TcpConnectionUp);
        let acts = f.handle(Event::UpdateMsg);
        assert_eq!(
            acts[0],
            A::SendNotification(Notification::new(
                ErrorCode::FiniteStateMachine(FsmSubcode::UnexpectedMessageInOpenSent),
                vec![]
            ))
        );
        let mut f = Fsm::new(false);
        f.handle(Event::ManualStart);
        f.handle(Event::TcpConnectionUp);
        f.handle(Event::BgpOpen { hold_time: 90 });
        let acts = f.handle(Event::UpdateMsg);
        assert_eq!(
            acts[0],
            A::SendNotification(Notification::new(
                ErrorCode::FiniteStateMachine(FsmSubcode::UnexpectedMessageInOpenConfirm),
                vec![]
            ))
        );
        let mut f = Fsm::new(false);
        up(&mut f, 90);
        let acts = f.handle(Event::BgpOpen { hold_time: 90 });
        assert_eq!(
            acts[0],
            A::SendNotification(Notification::new(
                ErrorCode::FiniteStateMachine(FsmSubcode::UnexpectedMessageInEstablished),
                vec![]
            ))
        );
    }

    #[test]
    fn manual_stop_notifies_only_with_a_session() {
        let shut = Notification::new(
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            vec![],
        );
        let mut f = Fsm::new(false);
        f.handle(Event::ManualStart);
        let acts = f.handle(Event::ManualStop(shut.clone()));
        assert!(!acts.iter().any(|a| matches!(a, A::SendNotification(_))));
        let mut f = Fsm::new(false);
        up(&mut f, 90);
        let acts = f.handle(Event::ManualStop(shut.clone()));
        assert_eq!(acts[0], A::SendNotification(shut));
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), 0);
        // Idle ignores everything but a start.
        assert!(f.handle(Event::KeepAliveMsg).is_empty());
    }

    #[test]
    fn connection_failures() {
        let mut f = Fsm::new(false);
        f.handle(Event::ManualStart);
        assert_eq!(
            f.handle(Event::TcpConnectionFails),
            [A::DropConnection, A::StartConnectRetry]
        );
        assert_eq!(f.state(), State::Active);
        // Retry timer in Active reconnects.
        assert_eq!(
            f.handle(Event::ConnectRetryTimerExpires),
            [A::DropConnection, A::StartConnectRetry, A::Connect]
        );
        assert_eq!(f.state(), State::Connect);
        // Losing the connection in OpenSent returns to Active.
        f.handle(Event::TcpConnectionUp);
        f.handle(Event::TcpConnectionFails);
        assert_eq!(f.state(), State::Active);
        // A peer NOTIFICATION in Established goes down without answering.
        let mut f = Fsm::new(false);
        up(&mut f, 90);
        let acts = f.handle(Event::NotifMsg);
        assert!(!acts.iter().any(|a| matches!(a, A::SendNotification(_))));
        assert_eq!(acts.last(), Some(&A::SessionDown));
    }

    #[test]
    fn collision_dump_sends_cease_7() {
        let mut f = Fsm::new(false);
        f.handle(Event::ManualStart);
        f.handle(Event::TcpConnectionUp);
        let acts = f.handle(Event::OpenCollisionDump);
        assert_eq!(
            acts[0],
            A::SendNotification(Notification::new(
                ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
                vec![]
            ))
        );
    }
}
