//! Logging: `tracing` to standard error (journald adds timestamps and
//! levels under systemd), filtered by `RUST_LOG` (default `info`).
//!
//! `RUST_LOG` is a comma-separated list of `level` (the default for every
//! target) and `target=level` (targets starting with `target`), e.g.
//! `RUST_LOG=info,nvabgp::peer=debug`: the `env_logger` syntax without
//! span and field filters. The filter is `tracing-subscriber`'s `Targets`,
//! not its `EnvFilter`, whose span and field matching needs a regular
//! expression engine that is otherwise never run and would stay mapped in
//! the daemon for its lifetime (see BENCHMARKS.md, "Peer sessions").

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The environment variable that sets the filter.
const FILTER_VARIABLE: &str = "RUST_LOG";

/// Installs the global subscriber. Calling it twice is harmless.
pub fn init() {
    let value = std::env::var(FILTER_VARIABLE).ok();
    let (filter, refused) = parse_filter(value.as_deref());
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .try_init()
        .is_ok();
    if let (true, Some(error)) = (installed, refused) {
        tracing::warn!(variable = FILTER_VARIABLE, value = value.as_deref().unwrap_or_default(),
            %error, "invalid log filter: logging at info");
    }
}

/// The filter `value` (of `RUST_LOG`) asks for: `info` when it is unset or
/// blank, and also when it does not parse, with the reason.
fn parse_filter(value: Option<&str>) -> (Targets, Option<String>) {
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match value.map(str::trim) {
        None | Some("") => (default(), None),
        Some(value) => match value.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(e) => (default(), Some(e.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn info_by_default() {
        for value in [None, Some(""), Some("  ")] {
            let (filter, refused) = parse_filter(value);
            assert!(refused.is_none());
            assert!(enabled(&filter, "nvabgp::peer::session", Level::INFO));
            assert!(!enabled(&filter, "nvabgp::peer::session", Level::DEBUG));
        }
    }

    #[test]
    fn a_level_and_targets() {
        let (filter, refused) = parse_filter(Some("warn,nvabgp::peer=debug"));
        assert!(refused.is_none());
        assert!(enabled(&filter, "nvabgp::peer::session", Level::DEBUG));
        assert!(!enabled(&filter, "nvabgp::peer::session", Level::TRACE));
        assert!(!enabled(&filter, "nvabgp::rib", Level::INFO));
        assert!(enabled(&filter, "nvabgp::rib", Level::WARN));
        assert!(enabled(&filter, "netlink_packet_route::link", Level::WARN));
    }

    #[test]
    fn only_the_targets_named() {
        let (filter, _) = parse_filter(Some("nvabgp=trace"));
        assert!(enabled(&filter, "nvabgp::daemon", Level::TRACE));
        assert!(!enabled(&filter, "netlink_sys::socket", Level::ERROR));
    }

    #[test]
    fn off_silences() {
        let (filter, refused) = parse_filter(Some("off"));
        assert!(refused.is_none());
        assert!(!enabled(&filter, "nvabgp::daemon", Level::ERROR));
    }

    #[test]
    fn an_invalid_filter_falls_back_to_info_and_says_why() {
        for value in ["nvabgp=loud", "a=b=c", "debug,nvabgp=verbose"] {
            let (filter, refused) = parse_filter(Some(value));
            assert!(refused.is_some(), "{value} was accepted");
            assert!(enabled(&filter, "nvabgp::daemon", Level::INFO), "{value}");
            assert!(!enabled(&filter, "nvabgp::daemon", Level::DEBUG), "{value}");
        }
    }
}
