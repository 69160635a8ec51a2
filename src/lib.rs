//! nvabgp: an embedded BGP-4 speaker for network virtual appliances in
//! Azure. The binary (`src/main.rs`) is a thin wrapper around this library.

pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod decode;
pub mod kernel;
pub mod lab;
pub mod origin;
pub mod peer;
pub mod rib;
pub mod telemetry;
