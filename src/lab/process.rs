//! Processes, commands and waits of the lab, all bounded in time.
//!
//! Daemons run as children of this process, in the foreground (never
//! daemonized), so they are controlled by the PID we spawned and reaped by
//! us; nothing is ever signalled by name.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::{Error, NAME_PREFIX, Result};

/// How often the waits poll: often enough that a test does not idle, rarely
/// enough that polling a CLI does not eat the two shared cores.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Time limit of one CLI call (birdc, vtysh, gobgp, ip). They answer in
/// milliseconds; a daemon that is stopped or wedged must not hang a test.
pub const COMMAND_TIME_LIMIT: Duration = Duration::from_secs(20);

/// How many bytes of a failed command's output an error message keeps.
const OUTPUT_TAIL: usize = 600;

/// Runs `command` to completion within `limit` and returns its stdout.
/// Fails when it cannot start, exits unsuccessfully, or outlives `limit`
/// (it is then killed).
pub fn run(command: &mut Command, limit: Duration) -> Result<String> {
    let (status, stdout, stderr) = run_unchecked(command, limit)?;
    if status.success() {
        Ok(stdout)
    } else {
        Err(command_error(
            command,
            &status.to_string(),
            &stdout,
            &stderr,
        ))
    }
}

/// Like [`run`], but returns the exit status, stdout and stderr whatever the
/// status (a time-out is still an error).
pub fn run_unchecked(
    command: &mut Command,
    limit: Duration,
) -> Result<(ExitStatus, String, String)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("cannot start `{}`", describe(command)), e))?;
    // Drain both pipes concurrently: a child blocked on a full pipe would
    // otherwise never exit.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                // The child is not reaped yet, so its PID cannot have been reused.
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {limit:?}"));
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("wait failed: {e}"));
            }
        }
    };
    let stdout = stdout.map(join_text).unwrap_or_default();
    let stderr = stderr.map(join_text).unwrap_or_default();
    match status {
        Ok(status) => Ok((status, stdout, stderr)),
        Err(status) => Err(command_error(command, &status, &stdout, &stderr)),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = pipe.read_to_end(&mut buffer);
        buffer
    })
}

fn join_text(handle: thread::JoinHandle<Vec<u8>>) -> String {
    handle
        .join()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn command_error(command: &Command, status: &str, stdout: &str, stderr: &str) -> Error {
    let output = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    Error::Command {
        command: describe(command),
        status: status.to_string(),
        output: tail(output.trim(), OUTPUT_TAIL).to_string(),
    }
}

/// The command line, for messages.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Polls `probe` every [`POLL_INTERVAL`] until it returns `Some`, for at
/// most `timeout`. A probe error ends the wait at once (probes that expect
/// transient failures, like a CLI while its daemon starts, map them to
/// `None`).
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe()? {
            return Ok(value);
        }
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: what.to_string(),
                waited: start.elapsed(),
                last: String::from("condition not met"),
            });
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Sends `signal` to `pid`. For processes we did not spawn ourselves (found
/// in one of our namespaces); children are signalled through [`Process`].
pub fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PID out of range"))?;
    if pid <= 0 {
        // 0 and negative values address process groups: never do that.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single PID",
        ));
    }
    // SAFETY: kill(2) with a positive PID has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether a process with this PID exists (zombies included).
pub fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A daemon we spawned: its PID, name and log. Killed (and reaped) on drop.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with stdin closed and stdout+stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io(format!("cannot open {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("cannot open {}", log.display()), e))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io(format!("cannot start `{}`", describe(&command)), e))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// The PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The short name given at spawn (e.g. `bgpd`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file its stdout and stderr go to.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Whether it still runs (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The exit status if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// SIGTERM, wait up to `grace` for it to exit, then SIGKILL. Returns
    /// the exit status when it exited by itself (also before the SIGTERM),
    /// `None` when it had to be killed.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit_status() {
            return Some(status);
        }
        let _ = signal(self.pid(), libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

static RUNTIME_DIRS: AtomicU32 = AtomicU32::new(0);

/// The prefix of runtime directory names, before the creator's PID.
pub(crate) fn runtime_dir_prefix() -> String {
    format!("nvabgp-lab-{NAME_PREFIX}")
}

/// A directory for one daemon's configs, sockets and logs, in the temporary
/// directory, named `nvabgp-lab-nbl<pid>-<n>-<label>`. Removed on drop
/// unless the environment variable `NVABGP_LAB_KEEP` is set (for
/// post-mortems).
#[derive(Debug)]
pub struct RuntimeDir {
    path: PathBuf,
}

impl RuntimeDir {
    /// Creates a new, empty directory.
    pub fn new(label: &str) -> Result<Self> {
        let n = RUNTIME_DIRS.fetch_add(1, Ordering::Relaxed);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "{}{}-{n}-{label}",
            runtime_dir_prefix(),
            std::process::id()
        ));
        // A directory left by an earlier process with our PID is stale.
        if path.exists() {
            let _ = fs::remove_dir_all(&path);
        }
        fs::create_dir(&path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file in the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a file in the directory.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.join(name);
        fs::write(&path, contents)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        Ok(path)
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        if std::env::var_os("NVABGP_LAB_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The last `lines` lines of a text file (empty if unreadable), for
/// diagnostics.
pub fn file_tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_returns_stdout_and_reports_failures() {
        let out = run(
            Command::new("sh").args(["-c", "echo hello"]),
            COMMAND_TIME_LIMIT,
        )
        .unwrap();
        assert_eq!(out, "hello\n");
        let err = run(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            COMMAND_TIME_LIMIT,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("oops") && text.contains('3'), "{text}");
    }

    #[test]
    fn run_kills_a_command_at_its_limit() {
        let err = run(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[test]
    fn wait_for_is_bounded_and_stops_at_errors() {
        let mut calls = 0;
        let err = wait_for::<()>("nothing", Duration::from_millis(250), || {
            calls += 1;
            Ok(None)
        })
        .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(calls >= 2);
        calls = 0;
        let err = wait_for::<()>("failing", Duration::from_secs(30), || {
            calls += 1;
            Err(Error::Unsupported("broken".into()))
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert_eq!(err.to_string(), "broken");
        let value = wait_for("three", Duration::from_secs(5), || {
            calls += 1;
            Ok((calls % 3 == 0).then_some(calls))
        })
        .unwrap();
        assert_eq!(value % 3, 0);
    }

    #[test]
    fn tail_cuts_at_character_boundaries() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 5), "ab");
        assert_eq!(tail("aé", 1), "");
    }

    #[test]
    fn terminate_reports_how_the_process_ended() {
        let dir = RuntimeDir::new("unit-terminate").unwrap();
        let log = dir.join("log");
        let spawn = |script: &str| {
            let mut command = Command::new("sh");
            command.args(["-c", script]);
            Process::spawn("sh", command, &log).unwrap()
        };
        // Exits by itself on SIGTERM, with its own status.
        let mut graceful = spawn("trap 'exit 3' TERM; while :; do sleep 0.05; done");
        thread::sleep(Duration::from_millis(100));
        let status = graceful.terminate(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(3));
        // Ignores SIGTERM: killed, no status.
        let mut stubborn = spawn("trap '' TERM; sleep 1");
        thread::sleep(Duration::from_millis(100));
        assert!(stubborn.terminate(Duration::from_millis(200)).is_none());
        assert!(!stubborn.is_running());
        // Already gone: its status.
        let mut done = spawn("exit 0");
        thread::sleep(Duration::from_millis(100));
        assert!(done.terminate(Duration::from_secs(1)).unwrap().success());
    }

    #[test]
    fn signal_refuses_group_pids() {
        assert!(signal(0, 0).is_err());
        assert!(signal(u32::MAX, 0).is_err());
        assert!(signal(std::process::id(), 0).is_ok());
    }

    #[test]
    fn runtime_dir_is_removed_on_drop() {
        let dir = RuntimeDir::new("unit/test").unwrap();
        let path = dir.path().to_path_buf();
        assert!(
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with("unit-test")
        );
        dir.write("a", "x").unwrap();
        assert!(path.join("a").exists());
        drop(dir);
        assert!(std::env::var_os("NVABGP_LAB_KEEP").is_some() || !path.exists());
    }
}
