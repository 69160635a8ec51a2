//! The demo's narration (headings, commands and their output) and its
//! interruptible, bounded waits.

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bgp_proto::Community;

use crate::lab::daemons::ReceivedRoute;
use crate::lab::process::POLL_INTERVAL;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The run was interrupted (SIGINT, SIGTERM).
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub(super) struct Interrupted;

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set [`INTERRUPTED`]; the handler resets itself, so a
/// second signal kills as usual.
pub(super) fn install_signal_handlers() -> anyhow::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid empty one; the handler only
        // stores to an atomic, which is async-signal-safe.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("cannot install a signal handler");
        }
    }
    Ok(())
}

pub(super) fn check_interrupted() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}

/// Polls `probe` until it returns `Some`, for at most `timeout`; stops at
/// an interruption. A probe error ends the wait (reported as the
/// interruption when one came meanwhile: Ctrl-C also reaches the daemons).
pub(super) fn wait<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        check_interrupted()?;
        match probe() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => {
                check_interrupted()?;
                return Err(e.context(format!("while waiting for {what}")));
            }
        }
        if start.elapsed() >= timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Sleeps `duration`, waking early on an interruption.
pub(super) fn sleep(duration: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        check_interrupted()?;
        thread::sleep(POLL_INTERVAL.min(end.saturating_duration_since(Instant::now())));
    }
    check_interrupted()
}

// ---- Output -----------------------------------------------------------------

/// The narration: headings, commands with their output, remarks.
pub(super) struct Narrator {
    pub(super) bold: bool,
    pub(super) pause: Duration,
    pub(super) act: u32,
}

impl Narrator {
    pub(super) fn act(&mut self, title: &str) -> anyhow::Result<()> {
        if self.act > 0 {
            sleep(self.pause)?;
        }
        self.act += 1;
        let line = format!("== {}. {title}", self.act);
        if self.bold {
            println!("\n\x1b[1m{line}\x1b[0m");
        } else {
            println!("\n{line}");
        }
        Ok(())
    }

    pub(super) fn say(&self, text: &str) {
        indented("   ", text);
    }

    /// A command as a user would type it, then its output.
    pub(super) fn shell(&self, command: &str, output: &str) {
        println!("   $ {command}");
        indented("     ", output.trim_end());
    }
}

/// Prints `text` with `indent` before every line that is not empty.
pub(super) fn indented(indent: &str, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            println!();
        } else {
            println!("{indent}{line}");
        }
    }
}

/// Well-known communities by name, others as `ASN:VALUE`.
pub(super) fn community_name(c: Community) -> String {
    match c {
        Community::NO_EXPORT => "no-export".into(),
        Community::NO_ADVERTISE => "no-advertise".into(),
        Community::NO_EXPORT_SUBCONFED => "no-export-subconfed".into(),
        other => other.to_string(),
    }
}

/// One received route for people.
pub(super) fn route_line(r: &ReceivedRoute) -> String {
    let mut line = format!(
        "{:<16} next hop {:<11} AS path {}",
        r.prefix.to_string(),
        r.next_hop,
        r.as_path
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if !r.communities.is_empty() {
        let names: Vec<String> = r.communities.iter().map(|c| community_name(*c)).collect();
        let _ = write!(line, "  communities {}", names.join(" "));
    }
    line
}

/// `0.9 s`, or `40 ms` below a tenth of a second.
pub(super) fn seconds(d: Duration) -> String {
    if d < Duration::from_millis(100) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_communities_are_named() {
        assert_eq!(community_name(Community::NO_ADVERTISE), "no-advertise");
        assert_eq!(community_name(Community::new(65001, 10)), "65001:10");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds(Duration::from_millis(14)), "14 ms");
        assert_eq!(seconds(Duration::from_millis(940)), "0.9 s");
        assert_eq!(seconds(Duration::from_millis(3049)), "3.0 s");
    }

    #[test]
    fn waits_are_bounded_and_stop_at_probe_errors() {
        let err = wait::<()>("nothing", Duration::from_millis(250), || Ok(None)).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        let err = wait::<()>("broken", Duration::from_secs(30), || bail!("boom")).unwrap_err();
        assert!(format!("{err:#}").contains("boom"), "{err:#}");
        let mut calls = 0;
        let value = wait("the third call", Duration::from_secs(30), || {
            calls += 1;
            Ok((calls == 3).then_some(calls))
        })
        .unwrap();
        assert_eq!(value, 3);
    }
}
