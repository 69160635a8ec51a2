//! BGP peer sessions: the RFC 4271 FSM ([`fsm`]), TCP ([`transport`]) and
//! the per-peer session task.

pub mod fsm;
pub mod session;
pub mod transport;
