//! What the lab needs from the machine, and how tests skip without it.

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::daemons::Implementation;
use super::process;

/// Why a lab test cannot run here. Tests print it loudly and return
/// ([`SkipReason::skip_or_fail`]); on CI, where everything is installed and
/// tests run as root, it fails the test instead, so that a broken CI image
/// cannot pass by skipping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipReason(pub String);

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SkipReason {
    /// On CI (environment `CI=true` or `CI=1`): panics. Elsewhere: prints a
    /// banner to stderr, visible even when the test harness captures output;
    /// the test should then return.
    pub fn skip_or_fail(&self, test: &str) {
        if on_ci() {
            panic!("{test}: lab prerequisite missing on CI: {self}");
        }
        let bar = "!".repeat(78);
        // Straight to the stderr handle: the test harness captures (and
        // hides, for passing tests) only what goes through `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "\n{bar}\n!! SKIPPED {test}\n!! {self}\n!! (needs root, iproute2, iputils-ping and bird2, frr, gobgpd, exabgp; on CI this fails)\n{bar}\n"
        );
    }
}

/// Whether we run on CI (`CI=true`, as GitHub Actions and most CI set it).
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The effective UID, from /proc (no libc call needed).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether `program` is an executable file in `PATH` (or a path to one).
pub(crate) fn find_program(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| executable(&dir.join(program)))
    })
}

/// Checks that namespace tests can run: root, `ip netns`, `ping`, `sysctl`.
pub fn require_root() -> Result<(), SkipReason> {
    match effective_uid() {
        Some(0) => {}
        Some(uid) => {
            return Err(SkipReason(format!(
                "not root (effective UID {uid}): network namespaces need root"
            )));
        }
        None => return Err(SkipReason("cannot read the effective UID".into())),
    }
    for program in ["ip", "ping", "sysctl"] {
        if !find_program(program) {
            return Err(SkipReason(format!("`{program}` is not installed")));
        }
    }
    process::run(
        Command::new("ip").args(["netns", "list"]),
        Duration::from_secs(10),
    )
    .map_err(|e| SkipReason(format!("`ip netns` does not work: {e}")))?;
    Ok(())
}

/// Checks that the programs of `implementation` are installed.
pub fn require_implementation(implementation: Implementation) -> Result<(), SkipReason> {
    for program in implementation.programs() {
        if !find_program(program) {
            return Err(SkipReason(format!(
                "{implementation}: `{program}` is not installed (Debian package {})",
                implementation.debian_package()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_in_path_and_by_path() {
        assert!(find_program("sh"));
        assert!(find_program("/bin/sh"));
        assert!(!find_program("surely-not-a-program-nvabgp"));
        assert!(!find_program("/nonexistent/sh"));
    }

    #[test]
    fn the_effective_uid_is_readable() {
        assert!(effective_uid().is_some());
    }
}
