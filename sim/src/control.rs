//! The control interface of a running lab: a Unix stream socket at
//! `LAB/control` taking one command per line and answering `ok` (followed
//! by lines of output) or `error: ...`. `ixy-sim ctl` and [`send`] are its
//! clients; `sim/README.md` lists the commands. This module parses the
//! commands; [`socket`] serves and sends the lines.

pub mod socket;

pub(crate) use socket::Server;
pub use socket::{check_line, send, LINE_TIME, MAX_CONNECTIONS, MAX_LINE};
use std::time::Duration;

/// Most frames one `inject` may create.
pub const MAX_INJECT: u64 = 100_000;

/// Longest wait of one `sync` (its default): within the 10 s a model
/// thread has to answer any command, and the 15 s [`send`] waits.
pub const MAX_SYNC_WAIT: Duration = Duration::from_secs(10);

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

/// The kinds of nonsense `corrupt` makes the device write back into a
/// port's receive descriptors (`sim/README.md` 5.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteBackFault {
    /// `len`: the length field says one byte more than the buffer holds.
    Len,
    /// `no-eop`: STAT.EOP is never set, on any descriptor of the frame.
    NoEop,
    /// `stray-dd`: the frame is written back as usual, and a second
    /// write-back with DD lands on descriptor RDT, which the driver never
    /// gave to the device.
    StrayDd,
}

impl WriteBackFault {
    /// The name the control command uses.
    pub fn name(self) -> &'static str {
        match self {
            WriteBackFault::Len => "len",
            WriteBackFault::NoEop => "no-eop",
            WriteBackFault::StrayDd => "stray-dd",
        }
    }
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
    /// `corrupt P len|no-eop|stray-dd N`: the next N frames port P delivers
    /// into host memory get a nonsensical write-back.
    Corrupt {
        /// Port number.
        port: usize,
        /// What is wrong with the write-back.
        kind: WriteBackFault,
        /// How many frames.
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
    /// `sync [MS]`: a barrier. Answered `ok` once every model thread has
    /// made, after the command arrived, a whole pass that found nothing to
    /// do and no frame in flight; an error if that takes longer than `wait`.
    Sync {
        /// How long to wait for the lab to go quiet (1 ms to
        /// [`MAX_SYNC_WAIT`], the default).
        wait: Duration,
    },
    /// `capture P PATH|off`: like a fiber tap on port P's cable, every
    /// frame sent on it in either direction goes to the pcap file PATH (an
    /// absolute path, created afresh) with the nanosecond time its first
    /// bit left the sender; `off` ends the capture and closes the file.
    Capture {
        /// Port number.
        port: usize,
        /// Where to write, `None` for `off`.
        path: Option<std::path::PathBuf>,
    },
    /// `help`: the command summary.
    Help,
}

impl Command {
    /// The port the command is about; `None` for `status`, `sync` and
    /// `help`.
    pub fn port(&self) -> Option<usize> {
        match *self {
            Command::Link { port, .. }
            | Command::Inject { port, .. }
            | Command::Corrupt { port, .. }
            | Command::Drop { port, .. }
            | Command::Remove { port }
            | Command::Counters { port }
            | Command::Capture { port, .. } => Some(port),
            Command::Status | Command::Sync { .. } | Command::Help => None,
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
        "corrupt" => {
            arity(4)?;
            let kind = match words[2] {
                "len" => WriteBackFault::Len,
                "no-eop" => WriteBackFault::NoEop,
                "stray-dd" => WriteBackFault::StrayDd,
                w => {
                    return Err(format!(
                        "write-back fault {w:?}: say len, no-eop or stray-dd"
                    ))
                }
            };
            Ok(Command::Corrupt {
                port: port(1)?,
                kind,
                count: count(3, u64::from(u32::MAX))?,
            })
        }
        "capture" => {
            arity(3)?;
            let path = match words[2] {
                "off" => None,
                w if w.starts_with('/') => Some(std::path::PathBuf::from(w)),
                w => return Err(format!("capture file {w:?}: give an absolute path, or off")),
            };
            Ok(Command::Capture {
                port: port(1)?,
                path,
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
        "sync" => {
            let max = MAX_SYNC_WAIT.as_millis() as u64;
            let wait = match words.len() {
                1 => MAX_SYNC_WAIT,
                2 => match words[1].parse::<u64>() {
                    Ok(ms) if (1..=max).contains(&ms) => Duration::from_millis(ms),
                    _ => {
                        return Err(format!(
                            "sync wait {:?}: give milliseconds from 1 to {max}",
                            words[1]
                        ))
                    }
                },
                _ => return Err("\"sync\" takes at most 1 argument (MS); try 'help'".into()),
            };
            Ok(Command::Sync { wait })
        }
        "help" => Ok(Command::Help),
        w => Err(format!("unknown command {w:?}; try 'help'")),
    }
}

/// The command summary, answered to `help`.
pub const HELP: &str = "commands: link P up|down | inject P corrupt|runt|oversize|length N | corrupt P len|no-eop|stray-dd N | drop P N | remove P | counters P | capture P PATH|off | status | sync [MS]";

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
        assert_eq!(
            parse("corrupt 3 stray-dd 2", 4),
            Ok(Command::Corrupt {
                port: 3,
                kind: WriteBackFault::StrayDd,
                count: 2
            })
        );
        for kind in [
            WriteBackFault::Len,
            WriteBackFault::NoEop,
            WriteBackFault::StrayDd,
        ] {
            let line = format!("corrupt 0 {} 1", kind.name());
            assert!(matches!(parse(&line, 1), Ok(Command::Corrupt { kind: k, .. }) if k == kind));
        }
        assert!(parse("corrupt 0 eop 1", 4).unwrap_err().contains("no-eop"));
        assert!(parse("corrupt 0 len", 4).is_err());
        assert!(parse("frobnicate", 4).unwrap_err().contains("unknown"));
        assert!(parse("", 4).is_err());
        assert!(parse("remove", 4).is_err());
        assert_eq!(
            parse("sync", 4),
            Ok(Command::Sync {
                wait: MAX_SYNC_WAIT
            })
        );
        assert_eq!(
            parse("sync 250", 4),
            Ok(Command::Sync {
                wait: Duration::from_millis(250)
            })
        );
        assert_eq!(parse("sync", 4).map(|c| c.port()), Ok(None));
        for bad in ["sync 0", "sync 10001", "sync -1", "sync soon"] {
            assert!(parse(bad, 4).unwrap_err().contains("1 to 10000"), "{bad}");
        }
        assert!(parse("sync 1 2", 4).unwrap_err().contains("at most 1"));
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
