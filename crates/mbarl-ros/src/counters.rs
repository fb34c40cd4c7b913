//! Named event counters (dropped messages, rejected inputs) and rate-limited warnings.
//!
//! Every rejection of bad input increments a counter and logs a warning at most once per
//! interval per key, so a flood of bad messages neither crashes a node nor floods its log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One counter; cheap to clone and to increment from any task.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn increment(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The counters of one node, by name (e.g. `dropped./joint_states`).
#[derive(Debug, Clone, Default)]
pub struct Counters(Arc<Mutex<BTreeMap<String, Counter>>>);

impl Counters {
    /// The counter with this name, created at zero on first use.
    pub fn counter(&self, name: &str) -> Counter {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_string()).or_default().clone()
    }

    /// All counters and their values, sorted by name.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, c)| (k.clone(), c.get())).collect()
    }
}

/// Logs the node's counters every `period` when they changed since the last log, so an
/// operator sees what was rejected or dropped without a debugger.
pub async fn log_changes(counters: Counters, period: Duration) {
    let mut last = Vec::new();
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = counters.snapshot();
        if now != last {
            let text: Vec<String> = now.iter().map(|(k, v)| format!("{k}={v}")).collect();
            tracing::info!("counters: {}", text.join(" "));
            last = now;
        }
    }
}

/// Logs a warning at most once per `interval`, reporting how many were suppressed in between.
#[derive(Debug)]
pub struct RateLimitedWarn {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimitedWarn {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Returns `Some(suppressed_since_last)` when the caller should log now.
    pub fn check(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < self.interval => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

impl Default for RateLimitedWarn {
    fn default() -> Self {
        Self::new(Duration::from_secs(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_shared_by_name() {
        let c = Counters::default();
        c.counter("dropped./a").increment();
        c.counter("dropped./a").increment();
        assert_eq!(c.counter("dropped./a").get(), 2);
        assert_eq!(c.snapshot(), vec![("dropped./a".to_string(), 2)]);
    }

    #[test]
    fn warnings_are_rate_limited() {
        let w = RateLimitedWarn::new(Duration::from_secs(60));
        assert_eq!(w.check(), Some(0));
        assert_eq!(w.check(), None);
        assert_eq!(w.check(), None);
        let w2 = RateLimitedWarn::new(Duration::ZERO);
        assert_eq!(w2.check(), Some(0));
        assert_eq!(w2.check(), Some(0));
    }
}
