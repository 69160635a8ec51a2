//! The probes: TCP connect, HTTP(S) GET, exec. Each returns `Ok(detail)`
//! on success and `Err(detail)` on failure, and never takes longer than
//! its timeout (plus the time to kill a command that overran it).
//!
//! HTTP is a minimal HTTP/1.1 GET written here (request line, `Host`,
//! `Connection: close`; only the status line of the answer is read): a
//! client crate would bring a connection pool, redirects and body handling
//! a health check must not have. HTTPS wraps the same exchange in
//! `tokio-rustls` (see [`super::tls`]).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::{HttpProbe, Probe};
use super::tls::Tls;

/// How much of an HTTP answer is read looking for the status line.
const STATUS_LINE_MAX: usize = 1024;

/// Runs one probe, bounded by `timeout`.
pub async fn run(probe: &Probe, timeout: Duration, tls: &Tls) -> Result<String, String> {
    match probe {
        Probe::Exec { argv } => exec(argv, timeout).await,
        Probe::Tcp { target } => bounded(timeout, tcp(target)).await,
        Probe::Http(h) => bounded(timeout, http(h, tls)).await,
    }
}

async fn bounded(
    timeout: Duration,
    probe: impl Future<Output = Result<String, String>>,
) -> Result<String, String> {
    match tokio::time::timeout(timeout, probe).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn tcp(target: &str) -> Result<String, String> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect to {target}: {e}"))?;
    // A connect that succeeded is the whole check; close at once.
    drop(stream);
    Ok("connected".into())
}

async fn http(probe: &HttpProbe, tls: &Tls) -> Result<String, String> {
    let stream = TcpStream::connect((probe.host.as_str(), probe.port))
        .await
        .map_err(|e| format!("connect to {}:{}: {e}", probe.host, probe.port))?;
    let _ = stream.set_nodelay(true);
    let status = if probe.tls {
        let mut stream = tls.connect(probe, stream).await?;
        get_status(&mut stream, probe).await?
    } else {
        let mut stream = stream;
        get_status(&mut stream, probe).await?
    };
    if status == probe.expect_status {
        Ok(format!("HTTP {status}"))
    } else {
        Err(format!("HTTP {status}, expected {}", probe.expect_status))
    }
}

/// Sends the GET and reads the status code from the answer's status line
/// (RFC 9112 §4: `HTTP/1.x SP 3DIGIT SP reason CRLF`).
async fn get_status<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    probe: &HttpProbe,
) -> Result<u16, String> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: nvabgp-health/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        probe.path,
        probe.host_header,
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send request: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("send request: {e}"))?;
    let mut buf = [0u8; STATUS_LINE_MAX];
    let mut filled = 0;
    loop {
        if let Some(end) = buf[..filled].iter().position(|&b| b == b'\n') {
            return parse_status_line(&buf[..end]);
        }
        if filled == buf.len() {
            return Err(format!(
                "no status line in the first {STATUS_LINE_MAX} bytes"
            ));
        }
        let n = stream
            .read(&mut buf[filled..])
            .await
            .map_err(|e| format!("read answer: {e}"))?;
        if n == 0 {
            return Err(if filled == 0 {
                "connection closed without an answer".into()
            } else {
                "connection closed inside the status line".into()
            });
        }
        filled += n;
    }
}

/// The status code of an HTTP/1.x status line.
pub(crate) fn parse_status_line(line: &[u8]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    let bad = || {
        let shown: String = text.chars().take(60).collect();
        Err(format!("not an HTTP/1.x status line: {shown:?}"))
    };
    let Some(rest) = text.strip_prefix("HTTP/1.") else {
        return bad();
    };
    let mut parts = rest.splitn(3, ' ');
    let (Some(minor), Some(code)) = (parts.next(), parts.next()) else {
        return bad();
    };
    if minor.len() != 1 || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return bad();
    }
    code.parse().or_else(|_| bad())
}

/// Runs `argv` (no shell) in its own process group; kills the whole group
/// when it overruns `timeout`, so `sh -c "..."` children go too.
async fn exec(argv: &[String], timeout: Duration) -> Result<String, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("no program".into());
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok("exit status 0".into()),
        Ok(Ok(status)) => Err(match status.code() {
            Some(code) => format!("exit status {code}"),
            None => format!("{status}"),
        }),
        Ok(Err(e)) => Err(format!("wait for {program}: {e}")),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) with a negative pid signals the process
                // group we created for this child (process_group(0) makes
                // its pid the group id); the child is not reaped yet, so
                // the id cannot have been reused.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(format!("no exit within {} ms: killed", timeout.as_millis()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r"), Ok(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable"),
            Ok(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204"), Ok(204));
        for bad in [
            &b"HTTP/2 200 OK"[..],
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 abc OK",
            b"SSH-2.0-OpenSSH",
            b"",
            b"HTTP/1.11 200 OK",
        ] {
            assert!(parse_status_line(bad).is_err(), "{bad:?}");
        }
    }
}
