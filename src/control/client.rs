//! The client side of the control API: what the `nvabgp` subcommands use.
//!
//! Failures to reach the agent are [`ApiError`]s too (`unavailable`,
//! `timeout`, `internal` for an unreadable answer), with a message that
//! says what to check, so a caller has one error type to report.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::server::DAEMON_TIMEOUT;
use super::types::{ApiError, ErrorCode, Request, Response};
use super::{Line, MAX_RESPONSE_LINE, decode_reply, read_line};

/// A connection to the agent's control socket.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    timeout: Duration,
    /// Set after a failure that leaves the stream out of step (a timeout,
    /// a half-read answer): a later answer could be taken for the next
    /// request's.
    broken: bool,
}

impl Client {
    /// How long [`Client::call`] waits by default: longer than the server
    /// waits for the daemon, so its `timeout` answer arrives first.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(DAEMON_TIMEOUT.as_secs() + 5);

    /// Connects to the agent listening on `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, ApiError> {
        let path = path.as_ref().to_owned();
        let stream =
            match tokio::time::timeout(Self::DEFAULT_TIMEOUT, UnixStream::connect(&path)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(connect_error(&path, &e)),
                Err(_) => {
                    return Err(ApiError::new(
                        ErrorCode::Timeout,
                        format!(
                            "cannot reach nvabgp at {}: no connection within {} s",
                            path.display(),
                            Self::DEFAULT_TIMEOUT.as_secs()
                        ),
                    ));
                }
            };
        let (read, writer) = stream.into_split();
        Ok(Self {
            path,
            reader: BufReader::new(read),
            writer,
            timeout: Self::DEFAULT_TIMEOUT,
            broken: false,
        })
    }

    /// Sets how long [`Client::call`] waits for an answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `request` and waits for its answer.
    pub async fn call(&mut self, request: &Request) -> Result<Response, ApiError> {
        if self.broken {
            return Err(ApiError::unavailable(
                "this connection failed earlier and is out of step: connect again",
            ));
        }
        let mut line = serde_json::to_vec(request)
            .map_err(|e| ApiError::internal(format!("cannot encode the request: {e}")))?;
        line.push(b'\n');
        // Until the answer is read whole, a failure leaves it in the stream.
        self.broken = true;
        let answer = tokio::time::timeout(self.timeout, self.exchange(&line)).await;
        let answer = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::Timeout,
                    format!(
                        "nvabgp at {} did not answer {} within {} s",
                        self.path.display(),
                        request.command(),
                        self.timeout.as_secs()
                    ),
                ));
            }
        };
        self.broken = false;
        decode_reply(request.command(), &answer)
            .map_err(|e| {
                ApiError::internal(format!(
                    "unreadable answer from nvabgp at {}: {e}",
                    self.path.display()
                ))
            })
            .and_then(|reply| reply)
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, ApiError> {
        let lost = |e: io::Error| {
            ApiError::unavailable(format!(
                "lost the connection to nvabgp at {}: {e}",
                self.path.display()
            ))
        };
        self.writer.write_all(request).await.map_err(lost)?;
        let mut answer = Vec::new();
        match read_line(&mut self.reader, &mut answer, MAX_RESPONSE_LINE)
            .await
            .map_err(lost)?
        {
            Line::Complete => Ok(answer),
            Line::Eof => Err(ApiError::unavailable(format!(
                "nvabgp at {} closed the connection without answering (shutting down?)",
                self.path.display()
            ))),
            Line::TooLong => Err(ApiError::internal(format!(
                "the answer from nvabgp at {} is longer than {MAX_RESPONSE_LINE} bytes",
                self.path.display()
            ))),
        }
    }
}

fn connect_error(path: &Path, e: &io::Error) -> ApiError {
    let path = path.display();
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ApiError::unavailable(
            format!("cannot reach nvabgp at {path}: is the daemon running? ({e})"),
        ),
        io::ErrorKind::PermissionDenied => ApiError::unavailable(format!(
            "cannot reach nvabgp at {path}: permission denied (run as root or as a member of group nvabgp)"
        )),
        _ => ApiError::unavailable(format!("cannot reach nvabgp at {path}: {e}")),
    }
}
