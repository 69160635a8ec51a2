//! The control API: a Unix socket speaking line-delimited JSON, and the
//! client the `nvabgp` subcommands use.
//!
//! ```text
//!  nvabgp neighbors ──► Client ──┐                          ┌──► daemon loop
//!  socat, scripts ───────────────┤  /run/nvabgp/nvabgp.sock │   (answers typed
//!                                └─► serve ── one task per ─┘    ControlRequests)
//!                                    connection: read line,
//!                                    validate, forward, answer
//! ```
//!
//! One request is one JSON object on one line (`{"command":"neighbors"}`);
//! each gets one answer line, in order: `{"ok":true,"result":...}` or
//! `{"ok":false,"error":{"code":"bad-request","message":"..."}}`. The
//! server validates every request before the daemon sees it
//! ([`Request::parse`]), so the daemon only ever answers typed, valid
//! [`Request`]s. The protocol is documented with an example per command in
//! README.md ("Control API").

pub mod client;
pub mod commands;
pub mod parse;
pub mod render;
pub mod server;
pub mod types;

use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

pub use client::Client;
pub use server::{ControlRequest, ControlServer, serve};
pub use types::{
    Announced, Announcement, ApiError, AsPathSegment, Change, Command, DrainMode, Drained,
    ErrorCode, HealthCheck, HealthState, KernelStatus, Neighbor, NextHop, NextHopSet, Request,
    Response, Route, RoutePath, RouteView, RoutesQuery, SessionState, Status, Undrained, Withdrawn,
};

/// Where the daemon listens unless the configuration says otherwise
/// (`control_socket`).
pub const DEFAULT_SOCKET: &str = "/run/nvabgp/nvabgp.sock";

/// Longest request line the server reads, newline excluded. A request is a
/// few hundred bytes; the bound keeps a client from making the daemon
/// buffer without end.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Longest answer line the client reads: a route table of a few hundred
/// thousand paths. The daemon is trusted, but a bound still turns a
/// runaway answer into an error rather than exhausted memory.
pub const MAX_RESPONSE_LINE: usize = 512 * 1024 * 1024;

/// One answer, as a JSON line (newline included).
pub fn encode_reply(reply: &Result<Response, ApiError>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Success<'a> {
        ok: bool,
        result: &'a Response,
    }
    #[derive(Serialize)]
    struct Failure<'a> {
        ok: bool,
        error: &'a ApiError,
    }
    let encoded = match reply {
        Ok(result) => serde_json::to_vec(&Success { ok: true, result }),
        Err(error) => serde_json::to_vec(&Failure { ok: false, error }),
    };
    let mut line = encoded.unwrap_or_else(|e| {
        // Serializing these types cannot fail (string keys, no floats);
        // still answer rather than drop the line, so replies stay in order.
        let error = ApiError::internal(format!("cannot encode the answer: {e}"));
        serde_json::to_vec(&Failure {
            ok: false,
            error: &error,
        })
        .unwrap_or_else(|_| {
            br#"{"ok":false,"error":{"code":"internal","message":"cannot encode the answer"}}"#
                .to_vec()
        })
    });
    line.push(b'\n');
    line
}

/// Reads an answer line to `command`. The outer error means the line is
/// not an answer at all (a protocol failure, not an API error).
pub fn decode_reply(command: Command, line: &[u8]) -> Result<Result<Response, ApiError>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err("not a JSON object".into());
    };
    match map.get("ok").and_then(serde_json::Value::as_bool) {
        Some(true) => {
            let result = map
                .remove("result")
                .ok_or("\"ok\" is true but there is no \"result\"")?;
            Response::from_result(command, result)
                .map(Ok)
                .map_err(|e| format!("the result of {command} does not fit: {e}"))
        }
        Some(false) => {
            let error = map
                .remove("error")
                .ok_or("\"ok\" is false but there is no \"error\"")?;
            serde_json::from_value(error)
                .map(Err)
                .map_err(|e| format!("unreadable \"error\": {e}"))
        }
        None => Err("no boolean \"ok\" field".into()),
    }
}

/// How a bounded line read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// `line` holds a line, newline (and a carriage return before it)
    /// removed; the last line of a stream may lack its newline.
    Complete,
    /// The line was longer than the bound: it was read to its end and
    /// dropped, so the next read starts at the next line.
    TooLong,
    /// End of stream before any byte of a line.
    Eof,
}

/// Reads one line of at most `max` bytes into `line` (cleared first).
/// Memory use stays within `max` however long the line: the excess is
/// consumed and dropped, not buffered.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    line.clear();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if line.is_empty() {
                Line::Eof
            } else {
                Line::Complete
            });
        }
        let (used, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            let content = buf.get(..used - usize::from(end)).unwrap_or_default();
            if line.len() + content.len() > max {
                too_long = true;
                line.clear();
                line.shrink_to(max.min(64 * 1024));
            } else {
                line.extend_from_slice(content);
            }
        }
        reader.consume(used);
        if end {
            if too_long {
                return Ok(Line::TooLong);
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_socket_is_the_configuration_default() {
        let config =
            crate::config::Config::parse("asn = 65001\nrouter_id = \"10.1.2.4\"\n").unwrap();
        assert_eq!(config.control_socket, DEFAULT_SOCKET);
    }

    #[test]
    fn replies_are_one_line_each_way() {
        let ok = Ok(Response::Undrained(Undrained {
            prefixes: 3,
            peers: 2,
        }));
        let line = encode_reply(&ok);
        assert_eq!(
            line,
            b"{\"ok\":true,\"result\":{\"prefixes\":3,\"peers\":2}}\n"
        );
        assert_eq!(decode_reply(Command::Undrain, &line), Ok(ok));
        let err = Err(ApiError::not_found("no peer \"ars-9\"\nreally"));
        let line = encode_reply(&err);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(decode_reply(Command::Withdraw, &line), Ok(err));
        // A result of the wrong shape for the command is a protocol error.
        let line = encode_reply(&Ok(Response::Neighbors(Vec::new())));
        assert!(decode_reply(Command::Status, &line).is_err());
        assert!(decode_reply(Command::Status, b"{\"result\":1}").is_err());
        assert!(decode_reply(Command::Status, b"{\"ok\":true}").is_err());
        // A newer agent's error code still reads.
        let line = br#"{"ok":false,"error":{"code":"rate-limited","message":"slow down"}}"#;
        assert_eq!(
            decode_reply(Command::Status, line),
            Ok(Err(ApiError::new(ErrorCode::Unknown, "slow down")))
        );
    }

    async fn lines(input: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        // A 4-byte buffer makes lines span many fill_buf calls.
        let mut reader = tokio::io::BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        let mut line = Vec::new();
        loop {
            let l = read_line(&mut reader, &mut line, max).await.unwrap();
            if l == Line::Eof {
                return out;
            }
            out.push((l, line.clone()));
        }
    }

    #[tokio::test]
    async fn lines_are_bounded_and_a_long_one_is_skipped_whole() {
        let got = lines(b"abc\r\n0123456789\nxyz\n\nlast", 8).await;
        assert_eq!(
            got,
            vec![
                (Line::Complete, b"abc".to_vec()),
                (Line::TooLong, Vec::new()),
                (Line::Complete, b"xyz".to_vec()),
                (Line::Complete, Vec::new()),
                (Line::Complete, b"last".to_vec()),
            ]
        );
        // Exactly at the bound is fine; one more byte is not.
        assert_eq!(
            lines(b"12345678\n", 8).await,
            vec![(Line::Complete, b"12345678".to_vec())]
        );
        assert_eq!(
            lines(b"123456789", 8).await,
            vec![(Line::TooLong, Vec::new())]
        );
    }
}
