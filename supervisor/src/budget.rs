//! The restart budget of one worker (docs/DESIGN.md 7): at most `limit` restarts
//! in any `window` of time (a sliding window, not a lifetime count), with an
//! exponential back-off between restarts that are close together.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// First restart delay; doubles with each restart still in the window.
pub const RESTART_BACKOFF: Duration = Duration::from_millis(100);
/// The back-off doubles at most this many times (6.4 s).
const MAX_DOUBLINGS: u32 = 6;

/// What to do about a worker that died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart it after this delay.
    Restart(Duration),
    /// Over budget: give it up until `retry_at`, when the oldest restart
    /// leaves the window (`None`: never, the limit is 0).
    GiveUp {
        /// When the window has room again.
        retry_at: Option<Instant>,
    },
}

/// The restarts of one worker within the last `window`.
#[derive(Debug, Clone)]
pub struct RestartBudget {
    limit: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// A budget of `limit` restarts in any `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        RestartBudget {
            limit,
            window,
            recent: VecDeque::new(),
        }
    }

    /// Restarts within the window that ends at `now`.
    pub fn recent(&mut self, now: Instant) -> u32 {
        while self
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.window)
        {
            self.recent.pop_front();
        }
        self.recent.len() as u32
    }

    /// Decides what to do about a death at `now`.
    pub fn decide(&mut self, now: Instant) -> Decision {
        let n = self.recent(now);
        if n >= self.limit {
            return Decision::GiveUp {
                retry_at: self.recent.front().map(|&t| t + self.window),
            };
        }
        Decision::Restart(RESTART_BACKOFF * 2u32.pow(n.min(MAX_DOUBLINGS)))
    }

    /// Counts a restart at `at`.
    pub fn record(&mut self, at: Instant) {
        self.recent.push_back(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn restarts_slower_than_the_rate_go_on_for_ever() {
        let mut b = RestartBudget::new(5, Duration::from_secs(60));
        let t0 = Instant::now();
        // One death every 13 s: never more than 5 in a minute.
        for k in 0..100u32 {
            let t = t0 + 13_000 * MS * k;
            assert!(matches!(b.decide(t), Decision::Restart(_)), "death {k}");
            b.record(t);
        }
    }

    #[test]
    fn the_limit_plus_one_within_the_window_gives_up_until_the_oldest_expires() {
        let mut b = RestartBudget::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        let mut delays = Vec::new();
        for k in 0..3u32 {
            let t = t0 + 1000 * MS * k;
            match b.decide(t) {
                Decision::Restart(d) => delays.push(d),
                other => panic!("death {k}: {other:?}"),
            }
            b.record(t);
        }
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS], "back-off doubles");
        let t = t0 + 3000 * MS;
        assert_eq!(
            b.decide(t),
            Decision::GiveUp {
                retry_at: Some(t0 + 10_000 * MS)
            }
        );
        // Once the first restart leaves the window there is room again.
        let later = t0 + 10_000 * MS;
        assert_eq!(b.recent(later), 2);
        assert_eq!(b.decide(later), Decision::Restart(400 * MS));
    }

    #[test]
    fn a_limit_of_zero_never_restarts() {
        let mut b = RestartBudget::new(0, Duration::from_secs(1));
        assert_eq!(
            b.decide(Instant::now()),
            Decision::GiveUp { retry_at: None }
        );
    }

    #[test]
    fn the_back_off_is_bounded() {
        let mut b = RestartBudget::new(100, Duration::from_secs(3600));
        let t0 = Instant::now();
        for k in 0..50u32 {
            b.record(t0 + MS * k);
        }
        assert_eq!(b.decide(t0 + 50 * MS), Decision::Restart(6400 * MS));
    }
}
