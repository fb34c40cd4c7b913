//! The one-sided Mann–Whitney U test: are one agent's per-seed scores larger than another's?
//!
//! U counts the pairs (x from the first sample, y from the second) with x > y, a tie counting
//! one half. The p value is the probability, with the two samples' labels shuffled, of a U at
//! least as large as the observed one. It is exact (every split of the pooled scores is
//! enumerated, so ties are handled exactly) while the number of splits is at most
//! [`EXACT_SPLITS`]; beyond, the normal approximation with tie and continuity corrections.

/// Enumerate splits up to this many (C(20, 10) = 184,756: 10 seeds per agent).
pub const EXACT_SPLITS: u64 = 200_000;

/// U of `x` over `y`: pairs with x > y, ties counting one half.
pub fn u_statistic(x: &[f64], y: &[f64]) -> f64 {
    x.iter()
        .map(|a| {
            y.iter()
                .map(|b| {
                    if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        })
        .sum()
}

fn binomial(n: u64, k: u64) -> u64 {
    let k = k.min(n - k);
    (0..k).fold(1u64, |acc, i| acc.saturating_mul(n - i) / (i + 1))
}

/// One-sided p of "x tends to be larger than y". `None` when a sample is empty or a value is
/// not finite.
pub fn p_greater(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.is_empty() || y.is_empty() || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let observed = u_statistic(x, y);
    let (n1, n2) = (x.len(), y.len());
    let n = n1 + n2;
    if binomial(n as u64, n1 as u64) <= EXACT_SPLITS {
        let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
        let (mut at_least, mut total) = (0u64, 0u64);
        let mut pick: Vec<usize> = (0..n1).collect();
        loop {
            let (mut a, mut b) = (Vec::with_capacity(n1), Vec::with_capacity(n2));
            let mut next = 0;
            for (i, v) in pooled.iter().enumerate() {
                if next < n1 && pick[next] == i {
                    a.push(*v);
                    next += 1;
                } else {
                    b.push(*v);
                }
            }
            total += 1;
            if u_statistic(&a, &b) >= observed - 1e-9 {
                at_least += 1;
            }
            // next combination of n1 indices out of n, in lexicographic order
            let Some(i) = (0..n1).rev().find(|&i| pick[i] < n - n1 + i) else {
                break;
            };
            pick[i] += 1;
            for j in i + 1..n1 {
                pick[j] = pick[j - 1] + 1;
            }
        }
        return Some(at_least as f64 / total as f64);
    }
    // Normal approximation with the tie correction of the variance.
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let mut pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let j = pooled[i..].iter().take_while(|v| **v == pooled[i]).count();
        let t = j as f64;
        ties += t * t * t - t;
        i += j;
    }
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = (observed - mean - 0.5) / var.sqrt();
    Some(0.5 * erfc(z / std::f64::consts::SQRT_2))
}

/// The complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_counts_pairs_and_half_ties() {
        assert_eq!(u_statistic(&[3.0, 4.0], &[1.0, 2.0]), 4.0);
        assert_eq!(u_statistic(&[1.0], &[1.0]), 0.5);
        assert_eq!(u_statistic(&[1.0, 5.0], &[2.0, 5.0]), 1.5);
    }

    /// Known values: complete separation of 3 vs 3 is 1 split of C(6,3) = 20; of 6 vs 6, 1 of
    /// 924. scipy.stats.mannwhitneyu(x, y, alternative="greater", method="exact") agrees.
    #[test]
    fn exact_p_values() {
        assert_eq!(
            p_greater(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]),
            Some(1.0 / 20.0)
        );
        let p = p_greater(&[7., 8., 9., 10., 11., 12.], &[1., 2., 3., 4., 5., 6.]).unwrap();
        assert!((p - 1.0 / 924.0).abs() < 1e-12, "{p}");
        // reversed: every split has U ≥ 0
        assert_eq!(p_greater(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), Some(1.0));
        // one swap: U = 8 of 9; splits of 1,2,3,4,5,6 with U ≥ 8: {4,5,6}, {3,5,6}: 2 of 20
        assert_eq!(p_greater(&[3.0, 5.0, 6.0], &[1.0, 2.0, 4.0]), Some(0.1));
        // all tied: every split has the same U
        assert_eq!(p_greater(&[0.5, 0.5], &[0.5, 0.5]), Some(1.0));
        assert_eq!(p_greater(&[], &[1.0]), None);
        assert_eq!(p_greater(&[f64::NAN], &[1.0]), None);
    }

    #[test]
    fn the_normal_approximation_agrees_with_the_exact_test_on_large_samples() {
        // 12 vs 12 (C(24,12) = 2.7M splits): normal; x shifted up by a little
        let x: Vec<f64> = (0..12).map(|i| i as f64 + 3.5).collect();
        let y: Vec<f64> = (0..12).map(|i| i as f64).collect();
        let p = p_greater(&x, &y).unwrap();
        // U = 108 of 144, mean 72, sd √300: z = 35.5 / 17.32, p = 0.0202 (scipy's asymptotic
        // method with continuity correction gives the same)
        assert!((p - 0.0202).abs() < 0.0005, "{p}");
        assert!(p_greater(&y, &x).unwrap() > 0.9);
    }
}
