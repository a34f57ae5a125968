//! A minimal HTTP/1.1 client: one keep-alive TCP connection, requests written from prepared
//! bytes, responses framed by `Content-Length`. It costs a few microseconds per request, so
//! on a 2-core machine the server under test, not the load generator, gets the CPU.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for one response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A response: status, head and body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The value of a header (the first one of that name).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body as JSON, failing on any status other than `expected`.
    pub(crate) fn json(&self, expected: u16) -> Result<serde_json::Value> {
        if self.status != expected {
            bail!(
                "expected HTTP {expected}, got {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        serde_json::from_slice(&self.body).context("response body is not JSON")
    }
}

/// Builds the bytes of one request to `host` (`127.0.0.1:PORT`).
pub(crate) fn request_bytes(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if let Some(body) = body {
        out.extend_from_slice(
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One keep-alive connection.
pub(crate) struct Conn {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `host` (`127.0.0.1:PORT`) with Nagle off.
    pub(crate) async fn connect(host: &str) -> Result<Self> {
        let stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("cannot connect to {host}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            host: host.to_owned(),
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// `GET path`.
    pub(crate) async fn get(&mut self, path: &str) -> Result<Response> {
        let bytes = request_bytes("GET", &self.host, path, &[], None);
        self.send(&bytes).await
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Response> {
        let body = serde_json::to_vec(body)?;
        let bytes = request_bytes("POST", &self.host, path, &[], Some(&body));
        self.send(&bytes).await
    }

    /// Writes a prepared request and reads its response.
    pub(crate) async fn send(&mut self, request: &[u8]) -> Result<Response> {
        tokio::time::timeout(RESPONSE_TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| anyhow!("no response within {} s", RESPONSE_TIMEOUT.as_secs()))?
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Response> {
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let (status, length) = parse_head(&self.buf[..head_end])?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok(Response { status, head, body })
    }

    async fn fill(&mut self) -> Result<()> {
        self.buf.reserve(8 * 1024);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("connection closed by the server");
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Status code and `Content-Length` of a response head.
fn parse_head(head: &[u8]) -> Result<(u16, usize)> {
    let text = std::str::from_utf8(head).context("response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse().context("bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("chunked responses are not supported by the bench client");
        }
    }
    Ok((status, length.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_length() {
        let head = b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\nx: y\r\n\r\n";
        assert_eq!(parse_head(head).unwrap(), (201, 12));
    }

    #[test]
    fn refuses_chunked_bodies() {
        let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(parse_head(head).is_err());
    }

    #[test]
    fn builds_requests_with_bodies() {
        let bytes = request_bytes("POST", "h:1", "/x", &[("a", "b")], Some(b"{}"));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("POST /x HTTP/1.1\r\nhost: h:1\r\na: b\r\n"));
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"));
    }
}
