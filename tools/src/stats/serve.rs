//! `ixy-stats --listen ADDR:PORT`: serves the Prometheus exposition
//! ([`super::prometheus()`]) on `/metrics` for a Prometheus server to scrape,
//! one fresh sample per request. A minimal HTTP/1.x responder on the
//! standard library: one request per connection, answered in turn; a
//! client gets 2 s to send its request head (at most 8 KiB), so a slow or
//! silent one cannot hold the others up for longer.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Longest request head read.
const MAX_REQUEST: usize = 8192;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The HTTP response to the request head `request`: the exposition that
/// `metrics` renders for `GET /metrics` (or `HEAD`), 404 for other paths,
/// 405 for other methods, 400 for what is not HTTP, 500 when `metrics`
/// fails.
pub fn respond(request: &str, metrics: impl FnOnce() -> Result<String, String>) -> String {
    let mut words = request.lines().next().unwrap_or("").split_whitespace();
    let (method, path, version) = (words.next(), words.next(), words.next());
    let reply = |status: &str, kind: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let text = "text/plain; charset=utf-8";
    match (method, path, version) {
        (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/1.") => {
            if m != "GET" && m != "HEAD" {
                return reply("405 Method Not Allowed", text, "use GET\n");
            }
            let path = p.split('?').next().unwrap_or(p);
            if path != "/metrics" {
                return reply("404 Not Found", text, "metrics are at /metrics\n");
            }
            match metrics() {
                Ok(body) => {
                    let mut r = reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", &body);
                    if m == "HEAD" {
                        r.truncate(r.len() - body.len());
                    }
                    r
                }
                Err(e) => reply("500 Internal Server Error", text, &format!("{e}\n")),
            }
        }
        _ => reply("400 Bad Request", text, "not an HTTP/1 request\n"),
    }
}

/// Reads a request head from `stream` (until the blank line, at most
/// [`MAX_REQUEST`] bytes, within [`READ_TIMEOUT`]).
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Answers the connections of `listener` one after the other, forever;
/// `metrics` renders the exposition for each `/metrics` request. A client
/// that fails (closes early, times out) costs only its own connection.
pub fn serve(listener: &TcpListener, mut metrics: impl FnMut() -> Result<String, String>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Ok(head) = read_head(&mut stream) else {
            continue;
        };
        let response = respond(&head, &mut metrics);
        let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
        let _ = stream.write_all(response.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_served_at_metrics_only() {
        let ok = respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", || {
            Ok("a 1\n".into())
        });
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(ok.ends_with("\r\n\r\na 1\n") && ok.contains("Content-Length: 4\r\n"));
        let head = respond("HEAD /metrics HTTP/1.0\r\n\r\n", || Ok("a 1\n".into()));
        assert!(head.ends_with("\r\n\r\n") && head.contains("Content-Length: 4"));
        let never = || -> Result<String, String> { panic!("not rendered") };
        assert!(respond("GET / HTTP/1.1\r\n\r\n", never).starts_with("HTTP/1.1 404"));
        assert!(respond("POST /metrics HTTP/1.1\r\n\r\n", never).starts_with("HTTP/1.1 405"));
        assert!(respond("hello", never).starts_with("HTTP/1.1 400"));
        assert!(respond("", never).starts_with("HTTP/1.1 400"));
        let failed = respond("GET /metrics HTTP/1.1\r\n\r\n", || Err("no files".into()));
        assert!(failed.starts_with("HTTP/1.1 500") && failed.ends_with("no files\n"));
    }
}
