//! The control socket server: accepts connections, validates each request
//! line and hands the daemon a typed [`ControlRequest`].
//!
//! Nothing a client sends can stop the server or reach the daemon
//! unvalidated: a line that is not a valid request gets a `bad-request`
//! answer and the connection stays usable; an overlong line is skipped
//! without being buffered; a connection beyond [`MAX_CONNECTIONS`] is
//! answered `unavailable` and closed.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::types::{ApiError, ErrorCode, Request, Response};
use super::{Line, MAX_REQUEST_LINE, encode_reply, read_line};

mod group;

/// A validated request for the daemon, with where to send the answer.
///
/// The daemon answers every request it takes, through `reply`, with the
/// [`Response`] variant of the request's command (a status for `status`,
/// ...); a mismatched variant reaches the client as an `internal` error.
/// Dropping `reply` answers `unavailable`.
#[derive(Debug)]
pub struct ControlRequest {
    /// The request.
    pub request: Request,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Response, ApiError>>,
}

/// Connections served at once; more are answered `unavailable` and closed.
pub const MAX_CONNECTIONS: usize = 64;

/// How long the daemon has to answer one request. A change it answers
/// later may still take effect; the client is told so.
pub const DAEMON_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection without a request for this long, or that takes this long
/// to read an answer, is closed, so idle clients cannot hold all
/// [`MAX_CONNECTIONS`] slots.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Group given access to the socket when it exists.
pub const SOCKET_GROUP: &str = "nvabgp";

/// File mode of the socket: the owner (root) and the [`SOCKET_GROUP`] may
/// connect, nobody else.
pub const SOCKET_MODE: u32 = 0o660;

/// Serves the control API on the Unix socket `path` until an accept error
/// that is not transient, passing each valid request to `handler`:
/// [`ControlServer::bind`], then [`ControlServer::serve`].
pub async fn serve(path: &Path, handler: mpsc::Sender<ControlRequest>) -> io::Result<()> {
    ControlServer::bind(path).await?.serve(handler).await
}

/// A bound control socket, not serving yet.
///
/// Binding first lets the daemon fail at startup, with the reason, when the
/// socket cannot be had, before it brings up any session.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    /// Removes the socket file when the server goes.
    socket: RemoveOnDrop,
}

impl ControlServer {
    /// Binds the Unix socket `path`.
    ///
    /// A socket file left by an earlier run is replaced; a live one
    /// (another agent answering on it) or a file that is not a socket is an
    /// error, never removed. The socket gets mode 0660 and, when the group
    /// `nvabgp` exists in `/etc/group`, that group; a missing parent
    /// directory is created.
    pub async fn bind(path: &Path) -> io::Result<Self> {
        let listener = bind(path).await?;
        Ok(Self {
            listener,
            socket: RemoveOnDrop(path.to_owned()),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.socket.0
    }

    /// Serves until an accept error that is not transient. Dropping the
    /// future (aborting its task) closes every connection and removes the
    /// socket file.
    pub async fn serve(self, handler: mpsc::Sender<ControlRequest>) -> io::Result<()> {
        info!(socket = %self.path().display(), "control API listening");
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) if is_transient(&e) => {
                            // Out of file descriptors, or a connection reset
                            // before accept: wait for things to settle rather
                            // than spin or give up.
                            warn!(error = %e, "control API: accept failed, retrying");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    match slots.clone().try_acquire_owned() {
                        Ok(slot) => {
                            let handler = handler.clone();
                            connections.spawn(async move {
                                connection(stream, handler).await;
                                drop(slot);
                            });
                        }
                        Err(_) => {
                            connections.spawn(refuse(stream));
                        }
                    }
                }
                // Reap finished connection tasks so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Removes the socket file when the server stops.
#[derive(Debug)]
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Only a socket: never a file someone put there since.
        let is_socket = std::fs::symlink_metadata(&self.0).is_ok_and(|m| m.file_type().is_socket());
        if is_socket {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

async fn bind(path: &Path) -> io::Result<UnixListener> {
    let context = |e: io::Error, what: &str| {
        io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| context(e, "cannot create the directory of"))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another process answers on {}: is nvabgp already running? (set control_socket to another path to run two)",
                        path.display()
                    ),
                ));
            }
            // Left by an agent that did not stop cleanly.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                debug!(socket = %path.display(), "removing a stale control socket");
                std::fs::remove_file(path)
                    .map_err(|e| context(e, "cannot remove the stale socket"))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context(e, "cannot check the existing socket")),
        },
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket: not replacing it (remove it or set control_socket)",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(context(e, "cannot check")),
    }
    let listener = UnixListener::bind(path).map_err(|e| context(e, "cannot bind"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| context(e, "cannot set the mode of"))?;
    if let Some(gid) = group_id(SOCKET_GROUP) {
        if let Err(e) = std::os::unix::fs::chown(path, None, Some(gid)) {
            // Root can still connect; members of the group cannot.
            warn!(socket = %path.display(), error = %e, group = SOCKET_GROUP,
                "cannot give the control socket to its group");
        }
    }
    Ok(listener)
}

/// The id of group `name` in `/etc/group`, `None` when there is no such
/// group or the file cannot be read (see [`group`] for why not NSS).
fn group_id(name: &str) -> Option<libc::gid_t> {
    match group::group_id_in(Path::new(group::GROUP_FILE), name) {
        Ok(gid) => gid,
        Err(e) => {
            debug!(file = group::GROUP_FILE, error = %e, group = name,
                "cannot read the group file: the control socket keeps its default group");
            None
        }
    }
}

/// Tells a client over the limit why it is turned away.
async fn refuse(mut stream: UnixStream) {
    let reply = Err(ApiError::unavailable(format!(
        "too many control connections (at most {MAX_CONNECTIONS}): try again when another client is done"
    )));
    let _ = stream.write_all(&encode_reply(&reply)).await;
    let _ = stream.shutdown().await;
}

/// Serves one connection: one answer per request line, in order.
async fn connection(stream: UnixStream, handler: mpsc::Sender<ControlRequest>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        let read = tokio::time::timeout(
            IDLE_TIMEOUT,
            read_line(&mut reader, &mut line, MAX_REQUEST_LINE),
        )
        .await;
        let reply = match read {
            Err(_) => {
                debug!("control connection idle, closing");
                return;
            }
            Ok(Err(e)) => {
                debug!(error = %e, "control connection read failed");
                return;
            }
            Ok(Ok(Line::Eof)) => return,
            Ok(Ok(Line::TooLong)) => Err(ApiError::bad_request(format!(
                "request line longer than {MAX_REQUEST_LINE} bytes: send one JSON object per line"
            ))),
            Ok(Ok(Line::Complete)) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    // Blank lines (a terminal's extra Enter) are not requests.
                    continue;
                }
                match std::str::from_utf8(&line) {
                    Err(e) => Err(ApiError::bad_request(format!(
                        "the request is not UTF-8 text (invalid byte at offset {})",
                        e.valid_up_to()
                    ))),
                    Ok(text) => match Request::parse(text) {
                        Ok(request) => dispatch(&handler, request).await,
                        Err(e) => Err(e),
                    },
                }
            }
        };
        // A client that stops reading would otherwise hold its slot for
        // good.
        match tokio::time::timeout(IDLE_TIMEOUT, write.write_all(&encode_reply(&reply))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(error = %e, "control connection write failed");
                return;
            }
            Err(_) => {
                debug!("control client stopped reading, closing");
                return;
            }
        }
    }
}

/// Hands `request` to the daemon and waits for its answer.
async fn dispatch(
    handler: &mpsc::Sender<ControlRequest>,
    request: Request,
) -> Result<Response, ApiError> {
    let command = request.command();
    let audit = request
        .is_change()
        .then(|| serde_json::to_string(&request).unwrap_or_default());
    let (reply, answer) = oneshot::channel();
    let exchange = async {
        handler
            .send(ControlRequest { request, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    };
    let result = match tokio::time::timeout(DAEMON_TIMEOUT, exchange).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "nvabgp did not answer {command} within {} s; a change may still take effect (check with `nvabgp status`)",
                DAEMON_TIMEOUT.as_secs()
            ),
        )),
    };
    let result = result.and_then(|response| {
        if response.command() == command {
            Ok(response)
        } else {
            Err(ApiError::internal(format!(
                "nvabgp answered {command} with the result of {} (a bug: please report it)",
                response.command()
            )))
        }
    });
    if let Some(request) = audit {
        // Changes to what the node advertises are worth a trace of who
        // asked for what, whatever came of it.
        match &result {
            Ok(_) => info!(%request, "control change applied"),
            Err(e) => info!(%request, code = %e.code, error = %e.message, "control change refused"),
        }
    }
    result
}

fn gone() -> ApiError {
    ApiError::unavailable("nvabgp is shutting down: no daemon behind the control socket")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_looked_up_by_name() {
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-for-nvabgp-tests"), None);
        assert_eq!(group_id("bad\0name"), None);
    }
}
