//! Benchmark: how well the state dynamics ensemble ([`mbarl_learn::dynamics`]) predicts a
//! run's transitions, against how many it trained on.
//!
//! For each run directory (a state-mode run: its `preset.yaml` and `replay/all`) and each size
//! N, a fresh ensemble is fitted on the run's first N transitions (both phases, in the order the
//! robot made them) and measured on the next `--test` transitions, which it never saw: the
//! newest data, as the policies' trust gate measures it. Prints one row per (run, N) and writes
//! them as CSV.
//!
//! ```text
//! cargo run --release -p mbarl-learn --example fit_dynamics -- RUN... [--sizes 1000,2000,5000]
//!     [--test 1000] [--members 5] [--elites 3] [--max-epochs 30] [--hidden 200,200]
//!     [--executed-from-lead Q_OFFSET,LEAD_OFFSET,MAX_STEP] [--out held_out_error.csv]
//! ```
use anyhow::{Context, Result, bail};
use mbarl_learn::LearnConfig;
use mbarl_learn::dynamics::{DynamicsData, StateDynamics};
use mbarl_learn::replay::{BufferKind, ReplayBuffer, ReplaySpec};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Tensor};

struct Args {
    runs: Vec<PathBuf>,
    sizes: Vec<usize>,
    test: usize,
    members: Option<usize>,
    elites: Option<usize>,
    max_epochs: Option<usize>,
    hidden: Option<Vec<usize>>,
    /// (joint positions offset, command leads offset, max_step): the action becomes the executed
    /// step, (q′ + lead′ − q − lead) / max_step, the command's actual change.
    executed: Option<(usize, usize, f32)>,
    out: Option<PathBuf>,
}

fn parse() -> Result<Args> {
    let mut a = Args {
        runs: vec![],
        sizes: vec![1000, 2000, 5000, 10000],
        test: 1000,
        members: None,
        elites: None,
        max_epochs: None,
        hidden: None,
        executed: None,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        let mut value = || it.next().with_context(|| format!("{s} needs a value"));
        match s.as_str() {
            "--sizes" => {
                a.sizes = value()?
                    .split(',')
                    .map(|v| v.trim().parse())
                    .collect::<std::result::Result<_, _>>()?
            }
            "--test" => a.test = value()?.parse()?,
            "--members" => a.members = Some(value()?.parse()?),
            "--elites" => a.elites = Some(value()?.parse()?),
            "--max-epochs" => a.max_epochs = Some(value()?.parse()?),
            "--hidden" => {
                a.hidden = Some(
                    value()?
                        .split(',')
                        .map(|v| v.trim().parse())
                        .collect::<std::result::Result<_, _>>()?,
                )
            }
            "--executed-from-lead" => {
                let v: Vec<String> = value()?.split(',').map(String::from).collect();
                if v.len() != 3 {
                    bail!("--executed-from-lead Q_OFFSET,LEAD_OFFSET,MAX_STEP");
                }
                a.executed = Some((v[0].parse()?, v[1].parse()?, v[2].parse()?));
            }
            "--out" => a.out = Some(value()?.into()),
            _ if s.starts_with("--") => bail!("unknown option {s}"),
            _ => a.runs.push(s.into()),
        }
    }
    if a.runs.is_empty() {
        bail!("usage: fit_dynamics RUN... [--sizes 1000,2000] [--test 1000] [--out CSV]");
    }
    Ok(a)
}

/// Every transition of the run's `replay/all`, in recording order: (S), (A), (S) rows.
fn load(
    run: &PathBuf,
    cfg: &LearnConfig,
    executed: Option<(usize, usize, f32)>,
) -> Result<DynamicsData> {
    let spec = ReplaySpec::from_config(cfg);
    let (buf, _) = ReplayBuffer::open_kind(run, BufferKind::All, spec, &cfg.replay)
        .with_context(|| format!("{}: replay/all", run.display()))?;
    let (mut s, mut a, mut n) = (Vec::<f32>::new(), Vec::<f32>::new(), Vec::<f32>::new());
    let state = |o: &mbarl_learn::replay::Observation| -> Vec<f32> {
        o.state
            .iter()
            .flatten()
            .chain(&o.proprio)
            .copied()
            .collect()
    };
    for i in 0..buf.len() {
        let Some(t) = buf.get(i) else { continue };
        let (now, next) = (state(&t.obs), state(&t.next_obs));
        match executed {
            Some((q, l, step)) => a.extend(
                (0..t.action.len())
                    .map(|j| (next[q + j] + next[l + j] - now[q + j] - now[l + j]) / step),
            ),
            None => a.extend(&t.action),
        }
        s.extend(now);
        n.extend(next);
    }
    let rows = buf.len() as i64;
    let sd = (cfg.obs.state_dim + cfg.obs.proprio_dim) as i64;
    Ok(DynamicsData {
        state: Tensor::from_slice(&s).reshape([rows, sd]),
        action: Tensor::from_slice(&a).reshape([rows, cfg.obs.action_dim as i64]),
        next_state: Tensor::from_slice(&n).reshape([rows, sd]),
    })
}

fn main() -> Result<()> {
    let args = parse()?;
    tch::set_num_threads(1);
    let mut csv =
        String::from("run,transitions,test,epochs,fit_s,fit_held_out_ratio,newest_ratio\n");
    println!(
        "{:<48} {:>6} {:>6} {:>7} {:>9} {:>7}",
        "run", "N", "epochs", "fit s", "held-out", "newest"
    );
    for run in &args.runs {
        let text = std::fs::read_to_string(run.join("preset.yaml"))
            .with_context(|| format!("{}: preset.yaml", run.display()))?;
        let mut cfg: LearnConfig = serde_yaml_ng::from_str(&text)?;
        if let Some(m) = args.members {
            cfg.dynamics.members = m;
        }
        if let Some(e) = args.elites {
            cfg.dynamics.elites = e;
        }
        if let Some(e) = args.max_epochs {
            cfg.dynamics.max_epochs = e;
        }
        if let Some(h) = &args.hidden {
            cfg.dynamics.hidden = h.clone();
        }
        let data = load(run, &cfg, args.executed)?;
        let total = data.len() as usize;
        for &n in &args.sizes {
            if n + args.test > total {
                println!(
                    "{:<48} {n:>6}  (the run has {total} transitions)",
                    run.display()
                );
                continue;
            }
            tch::manual_seed(0);
            let mut model = StateDynamics::new(&cfg, Device::Cpu)?;
            let pick = |from: usize, len: usize| DynamicsData {
                state: data.state.narrow(0, from as i64, len as i64),
                action: data.action.narrow(0, from as i64, len as i64),
                next_state: data.next_state.narrow(0, from as i64, len as i64),
            };
            let t0 = Instant::now();
            let report = model.fit(&pick(0, n))?;
            let fit_s = t0.elapsed().as_secs_f64();
            let newest = model.error_ratio(&pick(n, args.test))?;
            if std::env::var_os("FIT_DYNAMICS_PER_DIM").is_some() {
                let t = pick(n, args.test);
                let pred = model.mean_next(&t.state, &t.action)?;
                let err = (pred - &t.next_state)
                    .abs()
                    .mean_dim(0, false, tch::Kind::Float);
                let chg = (&t.next_state - &t.state)
                    .abs()
                    .mean_dim(0, false, tch::Kind::Float);
                println!("  |error| per dim {:?}", Vec::<f32>::try_from(err)?);
                println!("  |change| per dim {:?}", Vec::<f32>::try_from(chg)?);
            }
            let f = |v: Option<f64>| v.map_or("nan".to_string(), |v| format!("{v:.3}"));
            println!(
                "{:<48} {n:>6} {:>6} {fit_s:>7.1} {:>9} {:>7}",
                run.display(),
                report.epochs,
                f(report.held_out_error_ratio),
                f(newest),
            );
            csv += &format!(
                "{},{n},{},{},{fit_s:.2},{},{}\n",
                run.display(),
                args.test,
                report.epochs,
                f(report.held_out_error_ratio),
                f(newest)
            );
        }
    }
    if let Some(out) = &args.out {
        std::fs::File::create(out)?.write_all(csv.as_bytes())?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
