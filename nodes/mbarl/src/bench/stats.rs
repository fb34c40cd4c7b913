//! Percentiles of measured samples.

use std::time::Duration;

/// Latency percentiles in milliseconds.
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub n: usize,
}

pub fn percentiles(samples: &[Duration]) -> Percentiles {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Percentiles {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
        n: ms.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_ramp() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = percentiles(&s);
        assert_eq!(
            (p.p50.round(), p.p99.round(), p.max, p.n),
            (51.0, 99.0, 100.0, 100)
        );
    }
}
