//! `mbarl eval <run-dir>…`: the EARL-style results of runs, from what their nodes wrote:
//! deployed-policy success over environment steps (`metrics/deployed_eval.csv`, written by
//! `deployed_eval`), phase switches and help requests (`metrics/phases.csv`, written by the
//! arbiter) and, when the run recorded it, the training sim's reset count
//! (`metrics/sim_resets.txt`). Writes one CSV over all runs, a PNG learning curve and a phase
//! timeline per run (`eval/timeline.rs`), and
//! prints a table per run and one per agent (its seeds together, `eval/agents.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

mod agents;
mod mann_whitney;
mod model_error;
mod timeline;

#[derive(Args)]
pub struct EvalOpts {
    /// Run directories (one curve each).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output directory for eval.csv and learning_curve.png (default: the first run's metrics/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Curve labels, in run order (default: the run directories' names).
    #[arg(long, num_args = 1..)]
    labels: Vec<String>,
    /// Success rate that counts as "learned" in the summary.
    #[arg(long, default_value_t = 0.8)]
    threshold: f64,
    /// Env steps over which the by-agent table averages deployed success (EARL's
    /// deployed-policy evaluation; default: the shortest run's env steps).
    #[arg(long)]
    horizon: Option<u64>,
    /// `A,B`: also print the one-sided Mann-Whitney p of agent A's mean deployed success being
    /// larger than agent B's (agent: a run label without its `_sN`; repeatable). Label runs
    /// of two conditions apart with --labels.
    #[arg(long, value_parser = agent_pair)]
    compare: Vec<(String, String)>,
}

fn agent_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once(',') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => Err(format!("expected AGENT,AGENT, got `{s}`")),
    }
}

/// One deployed-evaluation round of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub env_steps: u64,
    pub success_rate: f64,
    pub episodes: u32,
}

/// What a run directory says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub label: String,
    pub rounds: Vec<Round>,
    pub phase_switches: usize,
    pub help_requests: usize,
    pub env_steps: u64,
    pub sim_resets: Option<u64>,
}

impl RunResult {
    /// Environment steps of the first round at or above `threshold`.
    pub fn steps_to(&self, threshold: f64) -> Option<u64> {
        self.rounds
            .iter()
            .find(|r| r.success_rate >= threshold)
            .map(|r| r.env_steps)
    }

    pub fn final_success(&self) -> Option<f64> {
        self.rounds.last().map(|r| r.success_rate)
    }
}

fn read_csv(path: &Path) -> Result<Vec<Vec<(String, String)>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .with_context(|| format!("{} is empty", path.display()))?
        .split(',')
        .map(String::from)
        .collect();
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.splitn(header.len(), ',').map(String::from))
                .collect()
        })
        .collect())
}

fn field<'a>(row: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Reads a run directory's metrics.
pub fn load_run(dir: &Path, label: &str) -> Result<RunResult> {
    let eval_path = dir.join("metrics/deployed_eval.csv");
    if !eval_path.exists() {
        bail!(
            "{} has no metrics/deployed_eval.csv: run `deployed_eval` on an evaluation sim while it trains",
            dir.display()
        );
    }
    let mut rounds = Vec::new();
    for (i, row) in read_csv(&eval_path)?.iter().enumerate() {
        let parse = || -> Option<Round> {
            Some(Round {
                env_steps: field(row, "env_steps")?.parse().ok()?,
                success_rate: field(row, "success_rate")?.parse().ok()?,
                episodes: field(row, "episodes")?.parse().ok()?,
            })
        };
        match parse() {
            Some(r) if r.success_rate.is_finite() => rounds.push(r),
            _ => eprintln!(
                "warning: {} row {} is malformed: skipped",
                eval_path.display(),
                i + 2
            ),
        }
    }
    let phases = dir.join("metrics/phases.csv");
    let (mut phase_switches, mut help_requests, mut env_steps) = (0, 0, 0);
    if phases.exists() {
        for row in read_csv(&phases)? {
            let (from, to) = (field(&row, "from"), field(&row, "to"));
            if from != to {
                phase_switches += 1;
            }
            if to == Some("NeedsHelp") {
                help_requests += 1;
            }
            if let Some(s) = field(&row, "total_steps").and_then(|s| s.parse().ok()) {
                env_steps = s;
            }
        }
    }
    let sim_resets = std::fs::read_to_string(dir.join("metrics/sim_resets.txt"))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    Ok(RunResult {
        label: label.to_string(),
        rounds,
        phase_switches,
        help_requests,
        env_steps: env_steps.max(rounds_max_steps(dir)),
        sim_resets,
    })
}

fn rounds_max_steps(dir: &Path) -> u64 {
    read_csv(&dir.join("metrics/deployed_eval.csv"))
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|r| field(&r, "env_steps")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

/// A success rate as a whole percentage, "-" when there is none.
fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |v| format!("{:.0}%", v * 100.0))
}

/// All rounds of all runs as one CSV.
pub fn write_csv(path: &Path, runs: &[RunResult]) -> Result<()> {
    let mut text = String::from("run,env_steps,success_rate,episodes\n");
    for r in runs {
        for x in &r.rounds {
            text += &format!(
                "{},{},{:.4},{}\n",
                r.label, x.env_steps, x.success_rate, x.episodes
            );
        }
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn register_font() -> Result<()> {
    let path = FONT_PATHS
        .iter()
        .find(|p| Path::new(p).exists())
        .context("no DejaVu Sans font for the plot's labels: apt install fonts-dejavu-core")?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(path)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{path} is not a usable font"))?;
    Ok(())
}

/// A 900×540 PNG line chart over environment steps (or another count) with a legend: what
/// [`plot`] and the model-error plot share. `body` draws the series; its errors are text.
pub(crate) struct LineChart<'a> {
    pub caption: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub x_max: u64,
    pub y: std::ops::Range<f64>,
    pub legend: plotters::chart::SeriesLabelPosition,
}

/// The chart area [`LineChart::draw`] hands its body.
pub(crate) type Chart<'a, 'b> = plotters::chart::ChartContext<
    'a,
    plotters::backend::BitMapBackend<'b>,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordu64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

impl LineChart<'_> {
    pub fn draw(
        self,
        path: &Path,
        body: impl FnOnce(&mut Chart) -> std::result::Result<(), String>,
    ) -> Result<()> {
        use plotters::prelude::*;
        register_font()?;
        let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
        let draw = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.caption, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0u64..self.x_max.max(1), self.y)
            .map_err(|e| draw(&e))?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .draw()
            .map_err(|e| draw(&e))?;
        body(&mut chart).map_err(|e| draw(&e))?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(self.legend)
            .draw()
            .map_err(|e| draw(&e))?;
        root.present().map_err(|e| draw(&e))?;
        Ok(())
    }
}

/// Deployed success against environment steps, one line per run.
pub fn plot(path: &Path, runs: &[RunResult], threshold: f64) -> Result<()> {
    use plotters::prelude::*;
    let max_steps = runs
        .iter()
        .flat_map(|r| r.rounds.iter().map(|x| x.env_steps))
        .max()
        .unwrap_or(1)
        .max(1);
    let chart = LineChart {
        caption: "Deployed forward-policy success (EARL)",
        x_desc: "environment steps",
        y_desc: "success rate",
        x_max: max_steps,
        y: 0.0..1.05,
        legend: SeriesLabelPosition::LowerRight,
    };
    chart.draw(path, |chart| {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        chart
            .draw_series(LineSeries::new(
                [(0, threshold), (max_steps, threshold)],
                BLACK.mix(0.3),
            ))
            .map_err(|e| err(&e))?;
        for (i, r) in runs.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    r.rounds.iter().map(|x| (x.env_steps, x.success_rate)),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(r.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        Ok(())
    })
}

pub fn run(opts: EvalOpts) -> Result<()> {
    if !opts.labels.is_empty() && opts.labels.len() != opts.runs.len() {
        bail!("{} labels for {} runs", opts.labels.len(), opts.runs.len());
    }
    let mut runs = Vec::new();
    for (i, dir) in opts.runs.iter().enumerate() {
        let label = opts.labels.get(i).cloned().unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string())
        });
        runs.push(load_run(dir, &label)?);
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| opts.runs[0].join("metrics"));
    std::fs::create_dir_all(&out)?;
    let csv = out.join("eval.csv");
    write_csv(&csv, &runs)?;
    let png = out.join("learning_curve.png");
    plot(&png, &runs, opts.threshold)?;
    // one phase timeline per run
    for (dir, r) in opts.runs.iter().zip(&runs) {
        let timeline = out.join(format!("phase_timeline_{}.png", r.label));
        if let Err(e) = timeline::plot(&timeline, dir, r) {
            eprintln!("warning: no phase timeline for {}: {e}", r.label);
        }
    }
    println!(
        "{:<24} {:>7} {:>10} {:>12} {:>9} {:>6} {:>6} {:>7}",
        "run",
        "rounds",
        "env steps",
        format!("to {:.0}%", opts.threshold * 100.0),
        "final",
        "phase",
        "help",
        "resets"
    );
    for r in &runs {
        println!(
            "{:<24} {:>7} {:>10} {:>12} {:>9} {:>6} {:>6} {:>7}",
            r.label,
            r.rounds.len(),
            r.env_steps,
            r.steps_to(opts.threshold)
                .map_or("not reached".into(), |s| s.to_string()),
            percent(r.final_success()),
            r.phase_switches,
            r.help_requests,
            r.sim_resets.map_or("-".into(), |v| v.to_string()),
        );
    }
    print!(
        "{}",
        agents::report(&runs, opts.threshold, opts.horizon, &opts.compare)
    );
    let fits = opts
        .runs
        .iter()
        .zip(&runs)
        .map(|(dir, r)| Ok((r.label.clone(), model_error::fits(dir)?)))
        .collect::<Result<Vec<_>>>()?;
    if let Some(text) = model_error::report(&out, &fits)? {
        print!("{text}");
    }
    println!("wrote {} and {}", csv.display(), png.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_run(dir: &Path, rates: &[(u64, f64)]) {
        std::fs::create_dir_all(dir.join("metrics")).unwrap();
        let mut t = String::from(
            "unix_time_s,env_steps,world_version,policy_version,episodes,solved,success_rate,mean_steps_to_success\n",
        );
        for (s, r) in rates {
            t += &format!("1.0,{s},1,1,10,{},{r},20.0\n", (r * 10.0) as u32);
        }
        t += "garbage line\n";
        std::fs::write(dir.join("metrics/deployed_eval.csv"), t).unwrap();
        std::fs::write(
            dir.join("metrics/phases.csv"),
            "unix_time_s,cycle,total_steps,from,to,reason\n1,0,0,Forward,Forward,\"start\"\n2,0,80,Forward,Backward,\"budget, 80\"\n3,1,160,Backward,NeedsHelp,\"x\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("metrics/sim_resets.txt"), "0\n").unwrap();
    }

    #[test]
    fn summarises_runs_and_draws_the_curve() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("mbarl"), tmp.path().join("medal"));
        fake_run(&a, &[(0, 0.0), (5000, 0.4), (9000, 0.9), (12000, 1.0)]);
        fake_run(&b, &[(0, 0.0), (9000, 0.2)]);
        let ra = load_run(&a, "mbarl").unwrap();
        assert_eq!(ra.rounds.len(), 4, "the malformed row is skipped");
        assert_eq!(ra.steps_to(0.8), Some(9000));
        assert_eq!(ra.final_success(), Some(1.0));
        assert_eq!((ra.phase_switches, ra.help_requests), (2, 1));
        assert_eq!(ra.env_steps, 12000);
        assert_eq!(ra.sim_resets, Some(0));
        let rb = load_run(&b, "medal").unwrap();
        assert_eq!(rb.steps_to(0.8), None);
        let csv = tmp.path().join("eval.csv");
        write_csv(&csv, &[ra.clone(), rb.clone()]).unwrap();
        assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 7);
        let png = tmp.path().join("curve.png");
        plot(&png, &[ra, rb], 0.8).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        assert!(bytes.len() > 5000);
    }

    #[test]
    fn a_run_without_evaluations_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let e = load_run(tmp.path(), "x").unwrap_err().to_string();
        assert!(e.contains("deployed_eval.csv"), "{e}");
    }
}
