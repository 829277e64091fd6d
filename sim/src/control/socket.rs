//! The control socket itself: the listener, one thread per connection (at
//! most [`MAX_CONNECTIONS`] at once), the line discipline and the client
//! [`send`].
//!
//! One command per line. A line holds at most [`MAX_LINE`] bytes and must
//! be complete within [`LINE_TIME`] of the connection opening or of the
//! previous answer. A longer line gets one `error: line too long` answer
//! and a slow client one `error: no complete line ...`, and either
//! connection is then closed: no client holds the socket for the others,
//! and no line is ever split into several commands.

use crate::shard::Router;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest command line accepted, in bytes, without its newline.
pub const MAX_LINE: usize = 4096;
/// How long a client has to send a complete line, counted from the
/// connection's start or from the previous answer; also how long it has to
/// take an answer.
pub const LINE_TIME: Duration = Duration::from_secs(2);
/// Most connections served at once; one more is answered an error and
/// closed.
pub const MAX_CONNECTIONS: usize = 16;
/// How long [`send`] waits for an answer (a `status` asks every model
/// thread in turn).
const ANSWER_TIME: Duration = Duration::from_secs(15);

/// Checks that `line` is one command line a lab accepts: printable text
/// (a newline would start a second command) of at most [`MAX_LINE`] bytes.
pub fn check_line(line: &str) -> Result<(), String> {
    if let Some(c) = line.chars().find(|c| c.is_control()) {
        return Err(format!(
            "command {line:?} contains the control character {c:?}; a command is one line of printable text"
        ));
    }
    if line.len() > MAX_LINE {
        return Err(format!(
            "command of {} bytes: at most {MAX_LINE}",
            line.len()
        ));
    }
    Ok(())
}

/// The listening side of the control socket: a thread that accepts
/// connections and serves each on a thread of its own.
pub(crate) struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl Server {
    /// Binds `path` and forwards each line to the model threads.
    pub(crate) fn start(path: &Path, requests: Router) -> io::Result<Server> {
        let listener = UnixListener::bind(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ixy-sim-control".into())
            .spawn(move || accept(&listener, &flag, &requests))?;
        Ok(Server {
            path: path.to_path_buf(),
            stop,
            handle,
        })
    }

    /// Stops accepting (waking `accept` with a last connection). The
    /// connections still open end by themselves within [`LINE_TIME`] plus
    /// one answer; after the model threads stop, that answer is
    /// `error: the lab is stopping`.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        // A failed connect means the listener is gone already.
        let _ = UnixStream::connect(&self.path);
        let _ = self.handle.join();
    }
}

/// One of the [`MAX_CONNECTIONS`] places, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts connections until `stop`; each is served on a thread of its
/// own while fewer than [`MAX_CONNECTIONS`] are open.
fn accept(listener: &UnixListener, stop: &AtomicBool, requests: &Router) {
    // Only this thread adds to it, so a place seen free stays free.
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, say: let some close.
                log::warn!("control socket: accepting a connection: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            let busy = format!(
                "error: too many control connections ({MAX_CONNECTIONS} at once); try again"
            );
            let _ = reply(&stream, &busy);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(open.clone());
        let requests = requests.clone();
        let spawned = std::thread::Builder::new()
            .name("ixy-sim-ctl".into())
            .spawn(move || {
                let _slot = slot;
                if let Err(e) = serve(&stream, &requests) {
                    log::debug!("control connection: {e}");
                }
            });
        // A failed spawn drops the closure: the slot and the connection.
        if let Err(e) = spawned {
            log::warn!("control socket: no thread for a connection: {e}");
        }
    }
}

/// Answers each line of one connection until the client closes it, sends
/// a line too long or is too slow.
fn serve(stream: &UnixStream, requests: &Router) -> io::Result<()> {
    stream.set_write_timeout(Some(LINE_TIME))?;
    let mut lines = Lines {
        stream,
        buf: Vec::new(),
    };
    loop {
        let answer = match lines.next(Instant::now() + LINE_TIME)? {
            Line::End => return Ok(()),
            Line::Text(line) => match check_line(line.trim()) {
                Ok(()) => requests.ask(line.trim()),
                Err(e) => format!("error: {e}"),
            },
            Line::TooLong => {
                let e = format!("error: line too long (more than {MAX_LINE} bytes); closing");
                return reply(stream, &e);
            }
            Line::Late => {
                let e = format!("error: no complete line within {LINE_TIME:?}; closing");
                return reply(stream, &e);
            }
        };
        reply(stream, &answer)?;
    }
}

/// Sends one answer: its lines, then an empty line.
fn reply(mut stream: &UnixStream, answer: &str) -> io::Result<()> {
    stream.write_all(format!("{answer}\n\n").as_bytes())
}

/// What the client sent next.
enum Line {
    /// A line, without its newline (the last one may lack it).
    Text(String),
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// No complete line before the deadline.
    Late,
    /// The client closed the connection.
    End,
}

/// Splits a connection into lines, holding at most [`MAX_LINE`] + 1
/// bytes.
struct Lines<'a> {
    stream: &'a UnixStream,
    buf: Vec<u8>,
}

impl Lines<'_> {
    /// The next line, if it is complete before `deadline`.
    fn next(&mut self, deadline: Instant) -> io::Result<Line> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                if end > MAX_LINE {
                    return Ok(Line::TooLong);
                }
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..=end);
                return Ok(Line::Text(line));
            }
            if self.buf.len() > MAX_LINE {
                return Ok(Line::TooLong);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Line::Late);
            }
            self.stream.set_read_timeout(Some(left))?;
            let old = self.buf.len();
            self.buf.resize(MAX_LINE + 1, 0);
            let mut stream = self.stream;
            let read = stream.read(&mut self.buf[old..]);
            self.buf.truncate(old + read.as_ref().map_or(0, |&n| n));
            match read {
                Ok(0) if self.buf.is_empty() => return Ok(Line::End),
                Ok(0) => {
                    let line = String::from_utf8_lossy(&self.buf).into_owned();
                    self.buf.clear();
                    return Ok(Line::Text(line));
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Line::Late)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Sends one command to the lab in directory `dir`; returns the answer
/// (`Err` holds an `error: ...` answer, the connection failure, or why
/// `line` is not one command line: see [`check_line`]).
pub fn send(dir: &Path, line: &str) -> Result<String, String> {
    let line = line.trim();
    check_line(line).map_err(|e| format!("error: {e}"))?;
    let path = dir.join("control");
    let stream = UnixStream::connect(&path).map_err(|e| {
        format!(
            "error: cannot reach lab {} ({e}); is ixy-sim running?",
            dir.display()
        )
    })?;
    let io = |e: io::Error| format!("error: talking to lab {}: {e}", dir.display());
    stream.set_read_timeout(Some(ANSWER_TIME)).map_err(io)?;
    stream.set_write_timeout(Some(LINE_TIME)).map_err(io)?;
    (&stream)
        .write_all(format!("{line}\n").as_bytes())
        .map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    let mut l = String::new();
    // The answer ends with an empty line.
    while reader.read_line(&mut l).map_err(io)? > 0 && l != "\n" {
        answer.push_str(&l);
        l.clear();
    }
    let answer = answer.trim_end().to_string();
    if answer.starts_with("error") || answer.is_empty() {
        Err(if answer.is_empty() {
            "error: no answer".into()
        } else {
            answer
        })
    } else {
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_command_line_is_printable_and_bounded() {
        assert!(check_line("link 0 down").is_ok());
        assert!(check_line("status\nremove 0")
            .unwrap_err()
            .contains("control character"));
        assert!(check_line("status\tx").is_err());
        assert!(check_line(&"x".repeat(MAX_LINE)).is_ok());
        assert!(check_line(&"x".repeat(MAX_LINE + 1))
            .unwrap_err()
            .contains("at most"));
    }

    fn text(line: io::Result<Line>) -> String {
        match line.expect("read") {
            Line::Text(t) => t,
            Line::TooLong => "<too long>".into(),
            Line::Late => "<late>".into(),
            Line::End => "<end>".into(),
        }
    }

    #[test]
    fn lines_are_split_at_newlines_only_and_bounded() {
        let (mut client, server) = UnixStream::pair().expect("socket pair");
        let mut lines = Lines {
            stream: &server,
            buf: Vec::new(),
        };
        let soon = || Instant::now() + Duration::from_secs(10);
        let longest = "x".repeat(MAX_LINE);
        client
            .write_all(format!("status\nhelp\n{longest}\nlast").as_bytes())
            .expect("send");
        client
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        assert_eq!(text(lines.next(soon())), "status");
        assert_eq!(text(lines.next(soon())), "help");
        assert_eq!(text(lines.next(soon())), longest);
        assert_eq!(text(lines.next(soon())), "last");
        assert_eq!(text(lines.next(soon())), "<end>");

        let (mut client, server) = UnixStream::pair().expect("socket pair");
        let mut lines = Lines {
            stream: &server,
            buf: Vec::new(),
        };
        client
            .write_all(format!("{longest}x\nstatus\n").as_bytes())
            .expect("send");
        assert_eq!(text(lines.next(soon())), "<too long>");
        // Nothing complete before the deadline.
        let (_client, server) = UnixStream::pair().expect("socket pair");
        let mut lines = Lines {
            stream: &server,
            buf: Vec::new(),
        };
        let short = Instant::now() + Duration::from_millis(20);
        assert_eq!(text(lines.next(short)), "<late>");
    }
}
