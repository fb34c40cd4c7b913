//! One run's phase timeline: which phase acted over the env steps (forward, backward, waiting
//! for help), the deployed policy's success, and, where the run logged the sim's ground truth
//! (`metrics/sim_probe.csv`, written by `scripts/learn_curve.py`), how often the forward task
//! held in training.
use std::path::Path;

use anyhow::Result;

use super::{RunResult, field, read_csv, register_font};

/// One phase: its kind (`Forward`, `Backward`, `NeedsHelp`, …) and env-step span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub kind: String,
    pub from: u64,
    pub to: u64,
}

/// The phases of `metrics/phases.csv`, each until the next (the last until `end`).
pub fn spans(run_dir: &Path, end: u64) -> Result<Vec<Span>> {
    let rows = read_csv(&run_dir.join("metrics/phases.csv"))?;
    let starts: Vec<(String, u64)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                field(r, "to")?.to_string(),
                field(r, "total_steps")?.parse().ok()?,
            ))
        })
        .collect();
    Ok(starts
        .iter()
        .enumerate()
        .map(|(i, (kind, from))| Span {
            kind: kind.clone(),
            from: *from,
            to: starts.get(i + 1).map_or(end.max(*from), |s| s.1),
        })
        .collect())
}

/// The sim's forward success in training (`metrics/sim_probe.csv`), as the fraction of steps it
/// held per window of `window` steps: (window start, fraction). Empty without the log.
pub fn training_success(run_dir: &Path, window: u64) -> Vec<(u64, f64)> {
    let Ok(rows) = read_csv(&run_dir.join("metrics/sim_probe.csv")) else {
        return Vec::new();
    };
    let mut sums: std::collections::BTreeMap<u64, (f64, f64)> = Default::default();
    for r in &rows {
        let (Some(step), Some(ok)) = (
            field(r, "step").and_then(|s| s.parse::<u64>().ok()),
            field(r, "success").and_then(|s| s.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let e = sums.entry(step / window * window).or_default();
        e.0 += ok.min(1.0);
        e.1 += 1.0;
    }
    sums.into_iter().map(|(w, (s, n))| (w, s / n)).collect()
}

/// Draws the timeline of `run` (whose directory is `run_dir`) to `path`.
pub fn plot(path: &Path, run_dir: &Path, run: &RunResult) -> Result<()> {
    use plotters::prelude::*;
    register_font()?;
    let end = run.env_steps.max(1);
    let phases = spans(run_dir, end)?;
    let training = training_success(run_dir, 500);
    let root = BitMapBackend::new(path, (900, 480)).into_drawing_area();
    let draw = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: phases and success", run.label),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0u64..end, 0f64..1.75f64)
        .map_err(|e| draw(&e))?;
    chart
        .configure_mesh()
        .x_desc("environment steps")
        .y_desc("success rate")
        .y_labels(8)
        // the space above 1 holds the phase band and the legend
        .y_label_formatter(&|v| {
            if *v <= 1.0 {
                format!("{v:.2}")
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(|e| draw(&e))?;
    let colour = |kind: &str| match kind {
        "Forward" => RGBColor(66, 133, 244),
        "Backward" => RGBColor(244, 160, 0),
        "NeedsHelp" => RGBColor(219, 68, 55),
        _ => RGBColor(160, 160, 160),
    };
    chart
        .draw_series(phases.iter().map(|s| {
            Rectangle::new(
                [(s.from, 1.06), (s.to.max(s.from + 1), 1.16)],
                colour(&s.kind).filled(),
            )
        }))
        .map_err(|e| draw(&e))?;
    for (kind, name) in [
        ("Forward", "forward phase"),
        ("Backward", "backward phase"),
        ("NeedsHelp", "help request"),
    ] {
        if phases.iter().any(|s| s.kind == kind) {
            let c = colour(kind);
            chart
                .draw_series(std::iter::empty::<Rectangle<(u64, f64)>>())
                .map_err(|e| draw(&e))?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], c.filled()));
        }
    }
    let deployed = RGBColor(15, 157, 88);
    chart
        .draw_series(LineSeries::new(
            run.rounds.iter().map(|r| (r.env_steps, r.success_rate)),
            deployed.stroke_width(2),
        ))
        .map_err(|e| draw(&e))?
        .label("deployed policy: success")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], deployed.stroke_width(2)));
    if !training.is_empty() {
        chart
            .draw_series(LineSeries::new(training.iter().copied(), BLACK.mix(0.6)))
            .map_err(|e| draw(&e))?
            .label("training: share of steps in the goal state (sim, per 500)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.6)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| draw(&e))?;
    root.present().map_err(|e| draw(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_span_until_the_next_and_training_success_is_windowed() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("metrics");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(
            m.join("phases.csv"),
            "unix_time_s,cycle,total_steps,from,to,reason\n1,0,0,Forward,Forward,\"start\"\n\
             2,0,200,Forward,Backward,\"step budget\"\n3,1,380,Backward,Forward,\"score\"\n",
        )
        .unwrap();
        let s = spans(dir.path(), 500).unwrap();
        assert_eq!(
            s.iter()
                .map(|s| (s.kind.as_str(), s.from, s.to))
                .collect::<Vec<_>>(),
            [
                ("Forward", 0, 200),
                ("Backward", 200, 380),
                ("Forward", 380, 500)
            ]
        );
        assert!(training_success(dir.path(), 100).is_empty());
        let rows: String = (1..=300)
            .map(|i| format!("{i},-0.1,{}\n", u8::from(i > 250)))
            .collect();
        std::fs::write(
            m.join("sim_probe.csv"),
            format!("step,reward,success\n{rows}"),
        )
        .unwrap();
        let t = training_success(dir.path(), 100);
        assert_eq!(t.len(), 4); // windows 0 (steps 1-99), 100, 200, 300
        assert_eq!(t[2], (200, 0.49)); // steps 200-299, the task held from 251
        std::fs::write(
            m.join("deployed_eval.csv"),
            "env_steps,success_rate,episodes\n100,0.2,10\n400,0.9,10\n",
        )
        .unwrap();
        let run = crate::eval::load_run(dir.path(), "door_state_medal_s0").unwrap();
        let png = dir.path().join("t.png");
        plot(&png, dir.path(), &run).unwrap();
        assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    }
}
