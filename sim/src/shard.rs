//! Model threads: how a lab's ports are shared out among them and how a
//! control command finds the thread that owns its port.
//!
//! A cable is the unit of work: both of its ports belong to the same
//! thread, so frames never cross threads and threads share nothing
//! writable in the fast path (like the workers). Ports without a cable are
//! units of their own. Only when there are more threads than units are
//! cables split, first cable first, so that each direction's sender has a
//! thread of its own; their frames then cross threads a pass's worth at a
//! time (`crossing`).

use crate::control::{self, Command};
use crate::lab::Request;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The ports each of up to `threads` model threads owns, in port order:
/// cables and lone ports dealt out round robin; with more threads than
/// those units, cables split into their two ports (in cable order) until
/// there are as many units as threads. Fewer groups than `threads` when
/// there are fewer ports; never an empty group.
pub fn groups(ports: usize, cables: &[(usize, usize)], threads: usize) -> Vec<Vec<usize>> {
    let cabled = |p: usize| cables.iter().any(|&(a, b)| a == p || b == p);
    let lone = (0..ports).filter(|&p| !cabled(p)).count();
    let split = threads
        .saturating_sub(cables.len() + lone)
        .min(cables.len());
    let mut units: Vec<Vec<usize>> = Vec::new();
    for (k, &(a, b)) in cables.iter().enumerate() {
        if k < split {
            units.extend([vec![a], vec![b]]);
        } else {
            units.push(vec![a, b]);
        }
    }
    units.extend((0..ports).filter(|&p| !cabled(p)).map(|p| vec![p]));
    units.sort_by_key(|u| u.iter().copied().min());
    let n = threads.clamp(1, units.len().max(1));
    let mut out = vec![Vec::new(); n];
    for (k, unit) in units.into_iter().enumerate() {
        out[k % n].extend(unit);
    }
    out.iter_mut().for_each(|g| g.sort_unstable());
    out.retain(|g| !g.is_empty());
    out
}

/// Sends control commands to the model thread that owns their port, or
/// to every thread for `status`, and merges the answers.
#[derive(Clone)]
pub(crate) struct Router {
    senders: Vec<mpsc::Sender<Request>>,
    /// The thread owning each port.
    owner: Vec<usize>,
}

/// How long a control command may wait for a model thread.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

impl Router {
    /// A router over one request queue per group of [`groups`].
    pub(crate) fn new(senders: Vec<mpsc::Sender<Request>>, groups: &[Vec<usize>]) -> Self {
        let ports = groups.iter().map(Vec::len).sum();
        let mut owner = vec![0; ports];
        for (k, g) in groups.iter().enumerate() {
            for &p in g {
                owner[p] = k;
            }
        }
        Router { senders, owner }
    }

    /// Runs one command line; the answer starts with `ok` or `error`.
    pub(crate) fn ask(&self, line: &str) -> String {
        let cmd = match control::parse(line, self.owner.len()) {
            Ok(cmd) => cmd,
            Err(e) => return format!("error: {e}"),
        };
        if let Command::Sync { wait } = cmd {
            return self.sync(wait);
        }
        let targets: Vec<usize> = match cmd {
            Command::Status => (0..self.senders.len()).collect(),
            _ => vec![cmd.port().map_or(0, |p| self.owner[p])],
        };
        let mut lines = Vec::new();
        for t in targets {
            let answer = self.ask_one(t, line);
            if answer.starts_with("error") || self.senders.len() == 1 {
                return answer;
            }
            lines.extend(answer.lines().skip(1).map(str::to_string));
        }
        if let Command::Status = cmd {
            // "portN ...": in port order, whichever thread answered.
            lines.sort_by_key(|l| {
                l.strip_prefix("port")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse::<usize>().ok())
            });
        }
        std::iter::once("ok".to_string())
            .chain(lines)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The `sync` barrier: asks every model thread at once, then waits
    /// until each has answered (after a quiet pass of its own, see
    /// `Engine::serve`) or `wait` has passed since the call (a `wait`
    /// beyond the clock's range waits for ever). Frames never cross
    /// threads, so every thread quiet means the lab is.
    pub(crate) fn sync(&self, wait: Duration) -> String {
        let deadline = Instant::now().checked_add(wait);
        let mut pending = Vec::with_capacity(self.senders.len());
        for sender in &self.senders {
            let (tx, rx) = mpsc::channel();
            let request = Request {
                line: "sync".into(),
                reply: tx,
            };
            if sender.send(request).is_err() {
                return "error: the lab is stopping".into();
            }
            pending.push(rx);
        }
        for (thread, rx) in pending.into_iter().enumerate() {
            let answer = match deadline {
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match answer {
                Ok(answer) if answer.starts_with("error") => return answer,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return format!(
                        "error: the lab did not go quiet within {} ms (model thread {thread} still had work)",
                        wait.as_millis()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => return "error: the lab is stopping".into(),
            }
        }
        "ok".into()
    }

    fn ask_one(&self, thread: usize, line: &str) -> String {
        let (tx, rx) = mpsc::channel();
        let sent = self.senders[thread].send(Request {
            line: line.to_string(),
            reply: tx,
        });
        if sent.is_err() {
            return "error: the lab is stopping".into();
        }
        rx.recv_timeout(ANSWER_WAIT)
            .unwrap_or_else(|_| format!("error: model thread {thread} did not answer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cables_stay_whole_and_are_dealt_round_robin() {
        assert_eq!(groups(4, &[(0, 2), (1, 3)], 1), vec![vec![0, 1, 2, 3]]);
        assert_eq!(
            groups(4, &[(0, 2), (1, 3)], 2),
            vec![vec![0, 2], vec![1, 3]]
        );
        // More threads than units: cables split, first cable first, so
        // that a cable's two directions run on two threads.
        assert_eq!(
            groups(4, &[(0, 2), (1, 3)], 3),
            vec![vec![0], vec![1, 3], vec![2]]
        );
        assert_eq!(
            groups(4, &[(0, 2), (1, 3)], 8),
            vec![vec![0], vec![1], vec![2], vec![3]]
        );
        assert_eq!(groups(2, &[(0, 1)], 2), vec![vec![0], vec![1]]);
        // Lone ports are units of their own.
        assert_eq!(groups(3, &[(0, 1)], 2), vec![vec![0, 1], vec![2]]);
        assert_eq!(groups(2, &[], 4), vec![vec![0], vec![1]]);
    }
}
