//! Conversions for `builtin_interfaces/Time` and `builtin_interfaces/Duration`.
//!
//! Both are `sec: i32` + `nanosec: u32` with `nanosec` in `[0, 1e9)`, so -1.7 s is
//! `{sec: -2, nanosec: 300_000_000}`. Conversions from nanoseconds saturate at the range of
//! `sec` (about ±68 years around the epoch).

use std::cmp::Ordering;
use std::ops::{Add, Sub};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::builtin_interfaces::{Duration, Time};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Splits nanoseconds into (sec, nanosec), saturating at the range of `i32` seconds.
fn split_nanos(nanos: i64) -> (i32, u32) {
    let sec = nanos.div_euclid(NANOS_PER_SEC);
    let nanosec = nanos.rem_euclid(NANOS_PER_SEC) as u32;
    if sec > i32::MAX as i64 {
        (i32::MAX, (NANOS_PER_SEC - 1) as u32)
    } else if sec < i32::MIN as i64 {
        (i32::MIN, 0)
    } else {
        (sec as i32, nanosec)
    }
}

fn join_nanos(sec: i32, nanosec: u32) -> i64 {
    sec as i64 * NANOS_PER_SEC + nanosec as i64
}

fn saturate_i64(nanos: i128) -> i64 {
    nanos.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Time {
    pub const fn new(sec: i32, nanosec: u32) -> Self {
        Time { sec, nanosec }
    }

    /// From nanoseconds since the epoch (may be negative); saturates outside ±68 years.
    pub fn from_nanos(nanos: i64) -> Self {
        let (sec, nanosec) = split_nanos(nanos);
        Time { sec, nanosec }
    }

    /// Nanoseconds since the epoch.
    pub fn to_nanos(&self) -> i64 {
        join_nanos(self.sec, self.nanosec)
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(&self) -> f64 {
        self.sec as f64 + self.nanosec as f64 * 1e-9
    }

    /// The wall-clock time now.
    pub fn now() -> Self {
        SystemTime::now().into()
    }

    pub fn to_system_time(&self) -> SystemTime {
        let nanos = self.to_nanos();
        let magnitude = std::time::Duration::from_nanos(nanos.unsigned_abs());
        let t = if nanos >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        };
        t.unwrap_or(UNIX_EPOCH)
    }
}

impl From<SystemTime> for Time {
    fn from(t: SystemTime) -> Self {
        let nanos = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => saturate_i64(d.as_nanos() as i128),
            Err(e) => saturate_i64(-(e.duration().as_nanos() as i128)),
        };
        Time::from_nanos(nanos)
    }
}

impl From<Time> for SystemTime {
    fn from(t: Time) -> Self {
        t.to_system_time()
    }
}

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.sec, self.nanosec).cmp(&(other.sec, other.nanosec))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time::from_nanos(self.to_nanos().saturating_add(d.to_nanos()))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time::from_nanos(self.to_nanos().saturating_sub(d.to_nanos()))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, other: Time) -> Duration {
        Duration::from_nanos(self.to_nanos().saturating_sub(other.to_nanos()))
    }
}

impl Duration {
    pub const fn new(sec: i32, nanosec: u32) -> Self {
        Duration { sec, nanosec }
    }

    /// From nanoseconds (may be negative); saturates outside ±68 years.
    pub fn from_nanos(nanos: i64) -> Self {
        let (sec, nanosec) = split_nanos(nanos);
        Duration { sec, nanosec }
    }

    pub fn to_nanos(&self) -> i64 {
        join_nanos(self.sec, self.nanosec)
    }

    /// From seconds, rounded to the nanosecond; saturates (NaN gives zero).
    pub fn from_secs_f64(secs: f64) -> Self {
        // `as` saturates and maps NaN to 0.
        Duration::from_nanos((secs * 1e9).round() as i64)
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.sec as f64 + self.nanosec as f64 * 1e-9
    }

    /// The `std` duration, or `None` when negative.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        u64::try_from(self.to_nanos())
            .ok()
            .map(std::time::Duration::from_nanos)
    }
}

impl From<std::time::Duration> for Duration {
    /// Saturates above about 68 years.
    fn from(d: std::time::Duration) -> Self {
        Duration::from_nanos(saturate_i64(d.as_nanos() as i128))
    }
}

impl Eq for Duration {}

impl PartialOrd for Duration {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Duration {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.sec, self.nanosec).cmp(&(other.sec, other.nanosec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_trip_and_negative_values() {
        for ns in [
            0,
            1,
            999_999_999,
            1_000_000_000,
            1_700_000_000_123_456_789,
            -1,
            -1_700_000_000,
        ] {
            assert_eq!(Time::from_nanos(ns).to_nanos(), ns);
            assert_eq!(Duration::from_nanos(ns).to_nanos(), ns);
        }
        assert_eq!(
            Duration::from_nanos(-1_700_000_000),
            Duration::new(-2, 300_000_000)
        );
        assert_eq!(Time::from_nanos(i64::MAX), Time::new(i32::MAX, 999_999_999));
        assert_eq!(Time::from_nanos(i64::MIN), Time::new(i32::MIN, 0));
    }

    #[test]
    fn system_time_and_std_duration() {
        let t = Time::new(1_700_000_000, 5);
        assert_eq!(Time::from(t.to_system_time()), t);
        let before_epoch = Time::new(-3, 500_000_000);
        assert_eq!(Time::from(SystemTime::from(before_epoch)), before_epoch);
        let d = Duration::from(std::time::Duration::from_millis(1500));
        assert_eq!(d, Duration::new(1, 500_000_000));
        assert_eq!(d.to_std(), Some(std::time::Duration::from_millis(1500)));
        assert_eq!(Duration::new(-1, 0).to_std(), None);
        assert_eq!(
            Duration::from_secs_f64(-1.7),
            Duration::new(-2, 300_000_000)
        );
        assert_eq!(Duration::from_secs_f64(f64::NAN), Duration::default());
    }

    #[test]
    fn arithmetic_and_order() {
        let t = Time::new(10, 900_000_000);
        let later = t + Duration::new(0, 200_000_000);
        assert_eq!(later, Time::new(11, 100_000_000));
        assert_eq!(later - t, Duration::new(0, 200_000_000));
        assert_eq!(t - Duration::new(11, 0), Time::new(-1, 900_000_000));
        assert!(t < later);
        assert!(Time::now() > Time::new(1_600_000_000, 0));
    }
}
