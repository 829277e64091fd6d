//! The control interface of a running lab: a Unix stream socket at
//! `LAB/control` taking one command per line and answering `ok` (followed
//! by lines of output) or `error: ...`. `ixy-sim ctl` and [`send`] are its
//! clients; `sim/README.md` lists the commands.

use crate::shard::Router;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Most frames one `inject` may create.
pub const MAX_INJECT: u64 = 100_000;
/// Longest command line accepted.
const MAX_LINE: usize = 1024;

/// The kinds of bad frame `inject` can put on a port's receive side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A 64-byte frame with a wrong FCS (CRCERRS).
    Corrupt,
    /// A 44-byte frame with a good FCS (RUC).
    Runt,
    /// A 2004-byte frame with a good FCS (ROC unless jumbo frames are on).
    Oversize,
    /// An 802.3 frame whose length field exceeds its payload (RLEC).
    Length,
}

/// A parsed control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `link P up|down`: force the link of port P (and so its peer) down, or release it.
    Link {
        /// Port number.
        port: usize,
        /// Up (released) or down (forced).
        up: bool,
    },
    /// `inject P corrupt|runt|oversize|length N`: N bad frames arrive at port P.
    Inject {
        /// Port number.
        port: usize,
        /// What is wrong with the frames.
        kind: FaultKind,
        /// How many.
        count: u64,
    },
    /// `drop P N`: the next N frames arriving at port P are lost on the cable.
    Drop {
        /// Port number.
        port: usize,
        /// How many.
        count: u64,
    },
    /// `remove P`: surprise removal of port P.
    Remove {
        /// Port number.
        port: usize,
    },
    /// `counters P`: the simulator's own counters of port P.
    Counters {
        /// Port number.
        port: usize,
    },
    /// `status`: one line per port.
    Status,
    /// `help`: the command summary.
    Help,
}

impl Command {
    /// The port the command is about; `None` for `status` and `help`.
    pub fn port(&self) -> Option<usize> {
        match *self {
            Command::Link { port, .. }
            | Command::Inject { port, .. }
            | Command::Drop { port, .. }
            | Command::Remove { port }
            | Command::Counters { port } => Some(port),
            Command::Status | Command::Help => None,
        }
    }
}

/// Parses one command line for a lab of `ports` ports.
pub fn parse(line: &str, ports: usize) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let port = |i: usize| -> Result<usize, String> {
        let w = words.get(i).ok_or("missing port number")?;
        match w.parse::<usize>() {
            Ok(p) if p < ports => Ok(p),
            _ => Err(format!("port {w:?}: the lab has ports 0 to {}", ports - 1)),
        }
    };
    let count = |i: usize, max: u64| -> Result<u64, String> {
        let w = words.get(i).ok_or("missing count")?;
        match w.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!("count {w:?}: give a number from 0 to {max}")),
        }
    };
    let arity = |n: usize| -> Result<(), String> {
        if words.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{:?} takes {} argument(s); try 'help'",
                words[0],
                n - 1
            ))
        }
    };
    let Some(&verb) = words.first() else {
        return Err("empty command; try 'help'".into());
    };
    match verb {
        "link" => {
            arity(3)?;
            let up = match words[2] {
                "up" => true,
                "down" => false,
                w => return Err(format!("link state {w:?}: say up or down")),
            };
            Ok(Command::Link { port: port(1)?, up })
        }
        "inject" => {
            arity(4)?;
            let kind = match words[2] {
                "corrupt" => FaultKind::Corrupt,
                "runt" => FaultKind::Runt,
                "oversize" => FaultKind::Oversize,
                "length" => FaultKind::Length,
                w => {
                    return Err(format!(
                        "frame kind {w:?}: say corrupt, runt, oversize or length"
                    ))
                }
            };
            Ok(Command::Inject {
                port: port(1)?,
                kind,
                count: count(3, MAX_INJECT)?,
            })
        }
        "drop" => {
            arity(3)?;
            Ok(Command::Drop {
                port: port(1)?,
                count: count(2, u64::from(u32::MAX))?,
            })
        }
        "remove" => {
            arity(2)?;
            Ok(Command::Remove { port: port(1)? })
        }
        "counters" => {
            arity(2)?;
            Ok(Command::Counters { port: port(1)? })
        }
        "status" => {
            arity(1)?;
            Ok(Command::Status)
        }
        "help" => Ok(Command::Help),
        w => Err(format!("unknown command {w:?}; try 'help'")),
    }
}

/// The command summary, answered to `help`.
pub const HELP: &str = "commands: link P up|down | inject P corrupt|runt|oversize|length N | drop P N | remove P | counters P | status";

/// Fills `data` with bad frame number `n` of `kind` addressed to `dst`;
/// returns whether its FCS is good.
pub fn fault_frame(kind: FaultKind, dst: [u8; 6], n: u64, data: &mut Vec<u8>) -> bool {
    data.clear();
    data.extend_from_slice(&dst);
    data.extend_from_slice(&[0x02, 0x1c, 0x59, 0xfa, 0x17, 0x00]);
    match kind {
        FaultKind::Length => {
            // 802.3 length field 100, but only 46 bytes follow.
            data.extend_from_slice(&100u16.to_be_bytes());
            data.resize(60, 0);
        }
        _ => {
            data.extend_from_slice(&0x0800u16.to_be_bytes());
            let total = match kind {
                FaultKind::Runt => 40,
                FaultKind::Oversize => 2000,
                _ => 60,
            };
            data.resize(total, 0);
        }
    }
    if let Some(b) = data.get_mut(20) {
        *b = n as u8;
    }
    kind != FaultKind::Corrupt
}

/// The listening side of the control socket, served by its own thread.
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
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        if let Err(e) = serve(stream, &requests) {
                            log::debug!("control connection: {e}");
                        }
                    }
                }
            })?;
        Ok(Server {
            path: path.to_path_buf(),
            stop,
            handle,
        })
    }

    /// Stops the thread (waking its `accept` with a last connection).
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        // A failed connect means the listener is gone already.
        let _ = UnixStream::connect(&self.path);
        let _ = self.handle.join();
    }
}

fn serve(stream: UnixStream, requests: &Router) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.by_ref().take(MAX_LINE as u64).read_line(&mut line)? == 0 {
            return Ok(());
        }
        let answer = requests.ask(line.trim());
        writer.write_all(answer.as_bytes())?;
        writer.write_all(b"\n\n")?;
    }
}

/// Sends one command to the lab in directory `dir`; returns the answer
/// (`Err` holds an `error: ...` answer or the connection failure).
pub fn send(dir: &Path, line: &str) -> Result<String, String> {
    let path = dir.join("control");
    let mut stream = UnixStream::connect(&path).map_err(|e| {
        format!(
            "error: cannot reach lab {} ({e}); is ixy-sim running?",
            dir.display()
        )
    })?;
    let io = |e: io::Error| format!("error: talking to lab {}: {e}", dir.display());
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(io)?;
    stream.write_all(line.trim().as_bytes()).map_err(io)?;
    stream.write_all(b"\n").map_err(io)?;
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
    use crate::frame;

    #[test]
    fn commands_parse_and_bad_ones_explain() {
        assert_eq!(
            parse("link 1 down", 4),
            Ok(Command::Link { port: 1, up: false })
        );
        assert_eq!(
            parse(" inject 2 runt 5 ", 4),
            Ok(Command::Inject {
                port: 2,
                kind: FaultKind::Runt,
                count: 5
            })
        );
        assert_eq!(
            parse("drop 0 3", 4),
            Ok(Command::Drop { port: 0, count: 3 })
        );
        assert!(parse("link 4 up", 4).unwrap_err().contains("ports 0 to 3"));
        assert!(parse("inject 0 weird 1", 4)
            .unwrap_err()
            .contains("corrupt"));
        assert!(parse("inject 0 runt 1000000000", 4)
            .unwrap_err()
            .contains("count"));
        assert!(parse("frobnicate", 4).unwrap_err().contains("unknown"));
        assert!(parse("", 4).is_err());
        assert!(parse("remove", 4).is_err());
    }

    #[test]
    fn fault_frames_have_the_promised_defect() {
        let mut d = Vec::new();
        assert!(!fault_frame(FaultKind::Corrupt, [2; 6], 0, &mut d));
        assert_eq!(d.len(), 60);
        assert!(fault_frame(FaultKind::Runt, [2; 6], 0, &mut d));
        assert!(d.len() + 4 < 64);
        assert!(fault_frame(FaultKind::Oversize, [2; 6], 0, &mut d));
        assert!(d.len() + 4 > 1518);
        assert!(fault_frame(FaultKind::Length, [2; 6], 0, &mut d));
        assert_eq!(frame::parse(&d).ethertype, 100);
    }
}
