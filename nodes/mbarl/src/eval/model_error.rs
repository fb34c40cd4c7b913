//! The state dynamics ensemble's one-step error against the data it was fitted on, per run
//! (`dynamics.enabled`: the world model's `dynamics_*` columns in `metrics/world_model.csv`).
//! Two measures per fit: on its random held-out split, and, before the fit, on the transitions
//! recorded since the previous fit (the newest data, which no fit had seen).
use super::{field, read_csv};
use anyhow::Result;
use std::path::Path;

/// One fit of the ensemble.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub transitions: u64,
    pub held_out: f64,
    /// NaN for the first fit.
    pub newest: f64,
}

/// A run's fits in order (empty when its world model fitted none).
pub fn fits(run_dir: &Path) -> Result<Vec<Fit>> {
    let path = run_dir.join("metrics/world_model.csv");
    if !path.exists() {
        return Ok(vec![]);
    }
    let mut out: Vec<Fit> = vec![];
    for row in read_csv(&path)? {
        let num = |k: &str| field(&row, k).and_then(|v| v.parse::<f64>().ok());
        let (Some(n), Some(h)) = (num("dynamics_transitions"), num("dynamics_held_out_ratio"))
        else {
            continue;
        };
        let fit = Fit {
            transitions: n as u64,
            held_out: h,
            newest: num("dynamics_newest_ratio").unwrap_or(f64::NAN),
        };
        // the stats repeat the newest fit until the next one
        if n > 0.0 && h.is_finite() && out.last().map(|l| l.transitions) != Some(fit.transitions) {
            out.push(fit);
        }
    }
    Ok(out)
}

/// The table printed under the agents' report, and `model_error.png` (nothing when no run
/// fitted the ensemble).
pub fn report(out: &Path, runs: &[(String, Vec<Fit>)]) -> Result<Option<String>> {
    if runs.iter().all(|(_, f)| f.is_empty()) {
        return Ok(None);
    }
    let mut text = String::from(
        "\nstate dynamics ensemble: one-step error / a step's change (1 = no better than \"nothing changes\")\n",
    );
    text += &format!(
        "{:<28} {:>12} {:>10} {:>10}\n",
        "run", "transitions", "held-out", "newest"
    );
    for (label, fits) in runs {
        for f in fits {
            text += &format!(
                "{label:<28} {:>12} {:>10.3} {:>10}\n",
                f.transitions,
                f.held_out,
                if f.newest.is_finite() {
                    format!("{:.3}", f.newest)
                } else {
                    "-".into()
                }
            );
        }
    }
    let png = out.join("model_error.png");
    plot(&png, runs)?;
    text += &format!("wrote {}\n", png.display());
    Ok(Some(text))
}

fn plot(path: &Path, runs: &[(String, Vec<Fit>)]) -> Result<()> {
    use plotters::prelude::*;
    let max_n = runs
        .iter()
        .flat_map(|(_, f)| f.iter().map(|x| x.transitions))
        .max()
        .unwrap_or(1);
    let chart = super::LineChart {
        caption: "State dynamics ensemble: one-step error / a step's change",
        x_desc: "transitions fitted on",
        y_desc: "error ratio (held-out: line; newest data: dots)",
        x_max: max_n,
        y: 0.0..1.5,
        legend: SeriesLabelPosition::UpperRight,
    };
    chart.draw(path, |chart| {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        for level in [0.3, 1.0] {
            chart
                .draw_series(LineSeries::new(
                    [(0, level), (max_n, level)],
                    BLACK.mix(0.3),
                ))
                .map_err(|e| err(&e))?;
        }
        for (i, (label, fits)) in runs.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    fits.iter().map(|f| (f.transitions, f.held_out.min(1.5))),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    fits.iter().filter(|f| f.newest.is_finite()).map(|f| {
                        Circle::new((f.transitions, f.newest.min(1.5)), 4, color.filled())
                    }),
                )
                .map_err(|e| err(&e))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_fit_once_and_draws_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("metrics")).unwrap();
        std::fs::write(
            dir.path().join("metrics/world_model.csv"),
            "time_s,updates,dynamics_transitions,dynamics_held_out_ratio,dynamics_newest_ratio\n\
             1.0,3,0,NaN,NaN\n\
             2.0,9,1000,0.61,NaN\n\
             3.0,12,1000,0.61,NaN\n\
             4.0,20,2000,0.42,0.8\n",
        )
        .unwrap();
        let f = fits(dir.path()).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].transitions, 1000);
        assert!(f[0].newest.is_nan());
        assert_eq!(f[1].newest, 0.8);
        let text = report(dir.path(), &[("run".into(), f)]).unwrap().unwrap();
        assert!(text.contains("0.420"), "{text}");
        assert!(
            std::fs::metadata(dir.path().join("model_error.png"))
                .unwrap()
                .len()
                > 1000
        );
        // a run without the ensemble: no table, no plot
        assert!(
            report(dir.path(), &[("x".into(), vec![])])
                .unwrap()
                .is_none()
        );
    }
}
