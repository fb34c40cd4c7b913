//! Diagnostic for a run directory's checkpoints (docs/notes/2026-12-07-results-history.md, "what fails on push"):
//!
//!   cargo run --release -p policy --example checkpoint_probe -- RUN_DIR [--fit-model N [--fit-records R]] [DIM:DELTA ...]
//!
//! 1. Encoder drift: for each stored world-model version (the newest 5), the forward demos'
//!    latents (encoder means), how far they moved since the previous version relative to their
//!    spread, how far the newest forward actor's actions moved with them, and the actor's
//!    distance to the demo actions.
//! 2. Saturation: the newest forward actor's pre-tanh means on states sampled from each phase's
//!    replay, and the share of recorded actions at the limits.
//! 3. Sensitivity (state mode, for each `DIM:DELTA`): the forward demos' states with state
//!    dimension DIM moved by DELTA, and how far that moves their latents and the newest forward
//!    actor's actions. DIM indexes the encoder's state, the task state first, then the joint
//!    positions and velocities (`mbarl_node::convert`). On `push`/`push_pen` with the task
//!    state: 0–2 end effector xyz, 3–6 block x, y, z, yaw, 7–8 goal xy, 9–10 start xy, 11–14
//!    joint positions, 15–18 joint velocities. A policy that ignores where the block is barely
//!    changes its actions when the block moves. With a classifier checkpoint, also the
//!    demo-state and goal classifiers' mean scores on the same states before and after the
//!    move: a demo-state classifier that still scores the forward demos' states high with the
//!    block moved towards the goal (`3:0.16`) rewards the backward policy for the arm's pose,
//!    not for undoing the task.
//! 4. Model error: on sequences of `alm.horizon` steps from each phase's replay, the newest
//!    latent model's open-loop prediction of the encoder's next latents (ensemble mean), step
//!    by step, against the "nothing changes" guess (the previous true latent), and the reward
//!    head's error against the recorded reward's spread. A model whose error is not well
//!    below the "nothing changes" guess gives the model-based actor and critic imagined
//!    transitions that teach them nothing about the task. With `--fit-model N`, a fresh latent
//!    model is also fitted for N steps (Gaussian NLL, batches of 256) on up to 4,000 distinct
//!    records of the forward replay under the newest encoder, and its one-step error on 1,000
//!    others shows how much of the stored model's error more model training would remove; then
//!    on the standardised state itself, and with the previous action appended, per dimension.
//!    `--fit-records R` takes up to R records instead of 5,000 (a fifth held out): the fit's
//!    error falls with the data (docs/notes/2026-12-07-results-history.md, "Session 20").
//!
//! 5. Action timing: each joint's position change fitted on its action and the previous
//!    step's; the step's own action should dominate (a lock-step loop with two steps in flight
//!    applied every action a step late; session 13).
//!
//! Reads only; run it on a stopped run (the replay is opened like the nodes open it).
use anyhow::{Context, Result, bail};
use mbarl_learn::medal::ClassifierTrainer;
use mbarl_learn::replay::{BufferKind, ReplayBuffer, ReplaySpec, Transition};
use mbarl_learn::{Component, LearnConfig, ObsBatch, Policy, WorldModel, checkpoint};
use mbarl_node::{bundle, convert, demos, store::CheckpointStore};
use rand::SeedableRng;
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn mean_abs(t: &Tensor) -> f64 {
    t.abs().mean(Kind::Float).double_value(&[])
}

fn share_above(t: &Tensor, limit: f64) -> f64 {
    t.abs()
        .gt(limit)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[])
}

/// `DIM:DELTA`, e.g. `12:0.1`.
fn parse_shift(arg: &str) -> Result<(i64, f64)> {
    let parsed = arg
        .split_once(':')
        .and_then(|(d, v)| Some((d.parse::<i64>().ok()?, v.parse::<f64>().ok()?)));
    parsed.with_context(|| format!("{arg:?}: expected DIM:DELTA, e.g. 12:0.1"))
}

fn load_world(cfg: &LearnConfig, path: &Path) -> Result<WorldModel> {
    let ck = checkpoint::load(path).with_context(|| format!("loading {}", path.display()))?;
    let mut w = WorldModel::new(cfg, Device::Cpu)?;
    bundle::load_world_model(&mut w, cfg, &ck)?;
    Ok(w)
}

/// The newest demo-state and goal classifiers of the run, if it has any.
fn load_classifiers(
    cfg: &LearnConfig,
    run: &Path,
) -> Result<Option<(ClassifierTrainer, ClassifierTrainer)>> {
    let Some(ck) = CheckpointStore::new(run, bundle::CLASSIFIERS, 5).load_newest() else {
        return Ok(None);
    };
    let mut demo = ClassifierTrainer::new(cfg, Device::Cpu, Component::DemoClassifier)?;
    let mut goal = ClassifierTrainer::new(cfg, Device::Cpu, Component::GoalClassifier)?;
    bundle::load_classifiers(&mut demo, &mut goal, cfg, &ck)?;
    Ok(Some((demo, goal)))
}

/// Section 4: the world model's open-loop latent error and the reward head's error on `k`-step
/// sequences of one replay.
fn model_error(world: &WorldModel, buf: &ReplayBuffer, k: usize, what: &str) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let seq = match buf.sample_sequences(1000, k, &mut rng) {
        Ok(s) => s,
        Err(e) => {
            println!("{what}: no model-error sequences ({e})");
            return Ok(());
        }
    };
    let (k1, b) = (seq.seq_len() + 1, seq.batch_size());
    let z_true = world
        .encode_mean(&seq.obs.flatten_time())?
        .reshape([k1, b, -1]);
    let spread = z_true
        .get(0)
        .std_dim(0, true, false)
        .mean(Kind::Float)
        .double_value(&[]);
    let mut z = z_true.get(0);
    let mut steps = Vec::new();
    tch::no_grad(|| {
        for t in 0..k1 - 1 {
            let a = seq.actions.get(t);
            let prior = world.model.forward(&z, &a);
            let mean = prior.mean.mean_dim(0, false, Kind::Float);
            let next = z_true.get(t + 1);
            let error = mean_abs(&(&mean - &next));
            let still = mean_abs(&(&next - z_true.get(t)));
            let r = world.reward.forward(&z, &a);
            let rec = seq.rewards.get(t);
            let r_err = mean_abs(&(&r - &rec));
            let r_spread = rec.std(true).double_value(&[]);
            steps.push(format!(
                "step {}: latent error {error:.3} (nothing-changes {still:.3}, ratio {:.2}), model σ {:.3}, reward error {r_err:.3} (spread {r_spread:.3})",
                t + 1,
                error / still.max(1e-9),
                prior.std.mean(Kind::Float).double_value(&[]),
            ));
            z = mean;
        }
    });
    println!(
        "{what} ({b} sequences of {k}, latent spread {spread:.3}), open loop from the true latent:"
    );
    for s in steps {
        println!("  {s}");
    }
    Ok(())
}

/// Section 4's `--fit-model N` (state mode): fresh latent models fitted on up to 5,000
/// distinct records of the forward replay (each with its predecessor in the same phase run, for
/// the previous action), the last fifth held out, against `world`'s own model.
fn fit_model(
    cfg: &LearnConfig,
    world: &WorldModel,
    buf: &ReplayBuffer,
    steps: usize,
    records: usize,
) -> Result<()> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (1..buf.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2));
    let mut rows: Vec<[Vec<f32>; 4]> = Vec::new();
    for i in order {
        if rows.len() == records {
            break;
        }
        let Some((t, p)) = linked(buf, i) else {
            continue;
        };
        let (Some(s), Some(sn)) = (t.obs.state, t.next_obs.state) else {
            println!("model fit: state-mode runs only");
            return Ok(());
        };
        rows.push([s, sn, t.action, p.action]);
    }
    let n = rows.len() as i64;
    let test = n / 5;
    let train = n - test;
    if test < 1 {
        println!("model fit: too few linked records ({n})");
        return Ok(());
    }
    let column = |k: usize| {
        let flat: Vec<f32> = rows.iter().flat_map(|r| r[k].iter().copied()).collect();
        Tensor::from_slice(&flat).reshape([n, -1])
    };
    let (s, sn, a1, a0) = (column(0), column(1), column(2), column(3));
    let state_obs = |t: &Tensor| ObsBatch {
        state: Some(t.shallow_clone()),
        proprio: None,
        frames: None,
    };
    let z = world.encode_mean(&state_obs(&s))?;
    let zn = world.encode_mean(&state_obs(&sn))?;
    let split = |t: &Tensor| (t.narrow(0, 0, train), t.narrow(0, train, test));
    let ((z_tr, z_te), (a_tr, a_te), (n_tr, n_te)) = (split(&z), split(&a1), split(&zn));
    let stored = world.model.error_ratio(&z_te, &a_te, &n_te);
    println!(
        "model fit on latents, {train} records, {test} held out (the stored model's held-out one-step ratio {}):",
        stored.map_or("-".into(), |r| format!("{r:.2}"))
    );
    fit_fresh(
        cfg,
        (&z_tr, &a_tr, &n_tr),
        (&z_te, &a_te, &n_te),
        steps,
        false,
    )?;
    // The same fit on the standardised state itself: if the state's own one-step change is no
    // more predictable, the error is the task's (what the observation leaves out), not the
    // encoder's. Then with the previous action appended to the state: the arm lags its
    // targets and a step starts from the last target, which the state does not hold; if the
    // previous action removes much of the error, the observation is missing the target.
    let d = s.size()[1];
    let vector = |v: &[f64], fill: f64| {
        if v.is_empty() {
            Tensor::full([d], fill, (Kind::Float, Device::Cpu))
        } else {
            Tensor::from_slice(v).to_kind(Kind::Float)
        }
    };
    let (shift, scale) = (
        vector(&cfg.encoder.state_shift, 0.0),
        vector(&cfg.encoder.state_scale, 1.0),
    );
    let (x1, x2) = ((&s - &shift) * &scale, (&sn - &shift) * &scale);
    for (what, input, target) in [
        (
            "the standardised state",
            x1.shallow_clone(),
            x2.shallow_clone(),
        ),
        (
            "the standardised state with the previous action appended (the last dimensions)",
            Tensor::cat(&[&x1, &a0], 1),
            Tensor::cat(&[&x2, &a1], 1),
        ),
    ] {
        let mut raw = cfg.clone();
        raw.encoder.latent_dim = input.size()[1] as usize;
        println!("model fit on {what}:");
        let ((i_tr, i_te), (t_tr, t_te)) = (split(&input), split(&target));
        fit_fresh(
            &raw,
            (&i_tr, &a_tr, &t_tr),
            (&i_te, &a_te, &t_te),
            steps,
            true,
        )?;
    }
    Ok(())
}

/// Section 5: does a recorded action move the arm in its own step? On linked records (each
/// with its predecessor in the same phase run), each joint's position change q′ − q is fitted by
/// least squares on that joint's action and the previous step's (a_t, a_{t−1}, 1). The arbiter
/// sends a_t as the step's target (target += a_t · max_step), so a_t's coefficient should
/// dominate; a coefficient of a_{t−1} far above a_t's means the sim applied each action a step
/// late (in lock-step: two steps in flight round the loop, session 13).
fn action_timing(buf: &ReplayBuffer, what: &str) -> Result<()> {
    // per record: [a_t, a_{t−1}, 1] per joint, and the joints' q′ − q
    let (mut x, mut dq) = (Vec::<f64>::new(), Vec::<f64>::new());
    let mut joints = 0;
    for i in 1..buf.len() {
        let Some((t, p)) = linked(buf, i) else {
            continue;
        };
        let (Some(s), Some(sn)) = (t.obs.state.as_ref(), t.next_obs.state.as_ref()) else {
            println!("{what}: state-mode runs only");
            return Ok(());
        };
        joints = t.action.len();
        // the encoder's state ends with the joint positions, then the velocities
        if s.len() < 2 * joints || sn.len() != s.len() || p.action.len() != joints {
            continue;
        }
        let q0 = s.len() - 2 * joints;
        for j in 0..joints {
            x.extend([f64::from(t.action[j]), f64::from(p.action[j]), 1.0]);
            dq.push(f64::from(sn[q0 + j] - s[q0 + j]));
        }
    }
    let n = dq.len() / joints.max(1);
    if n < 10 {
        println!("{what}: too few linked records ({n})");
        return Ok(());
    }
    let (n_, j_) = (n as i64, joints as i64);
    let (x, dq) = (
        Tensor::from_slice(&x).reshape([n_, j_, 3]),
        Tensor::from_slice(&dq).reshape([n_, j_]),
    );
    let row = (0..j_)
        .map(|j| {
            let (xj, yj) = (x.select(1, j), dq.narrow(1, j, 1));
            let (b, _, _, _) = xj.f_linalg_lstsq(&yj, None, "gelsd")?;
            let b = Vec::<f64>::try_from(b.reshape([-1]))?;
            Ok(format!("joint {j}: a_t {:+.4}, a_t-1 {:+.4}", b[0], b[1]))
        })
        .collect::<Result<Vec<_>>>()?
        .join("; ");
    println!(
        "{what} ({n} linked records), q' - q fitted on each joint's actions (rad per unit action): {row}"
    );
    Ok(())
}

/// Record `i` and its predecessor, when both are steps of the same phase run.
fn linked(buf: &ReplayBuffer, i: usize) -> Option<(Transition, Transition)> {
    let (t, p) = (buf.get(i)?, buf.get(i.checked_sub(1)?)?);
    (p.segment == t.segment && p.step + 1 == t.step).then_some((t, p))
}

/// Fits a fresh latent model for `steps` steps on `train` (z, a, z′) and prints its held-out
/// one-step error on `test` against the "nothing changes" guess.
fn fit_fresh(
    cfg: &LearnConfig,
    train: (&Tensor, &Tensor, &Tensor),
    test: (&Tensor, &Tensor, &Tensor),
    steps: usize,
    per_dim: bool,
) -> Result<()> {
    let (z_te, a_te, n_te) = test;
    let still = mean_abs(&(n_te - z_te));
    let mut fresh = WorldModel::new(cfg, Device::Cpu)?;
    let n = train.0.size()[0];
    for step in 1..=steps {
        let idx = Tensor::randint(n, [256], (Kind::Int64, Device::Cpu));
        let nll = fresh.update_model_supervised(
            &train.0.index_select(0, &idx),
            &train.1.index_select(0, &idx),
            &train.2.index_select(0, &idx),
        )?;
        if step == steps || step % (steps / 4).max(1) == 0 {
            let ratio = fresh
                .model
                .error_ratio(z_te, a_te, n_te)
                .unwrap_or(f64::NAN);
            println!(
                "  step {step}: train NLL {nll:.2}, held-out one-step error {:.3} (nothing-changes {still:.3}, ratio {ratio:.2})",
                ratio * still
            );
        }
    }
    if per_dim {
        let (err, chg, moving) = tch::no_grad(|| {
            let mean = fresh
                .model
                .forward(z_te, a_te)
                .mean
                .mean_dim(0, false, Kind::Float);
            let change = (n_te - z_te).abs();
            (
                Vec::<f64>::try_from((&mean - n_te).abs().mean_dim(0, false, Kind::Double)),
                Vec::<f64>::try_from(change.mean_dim(0, false, Kind::Double)),
                Vec::<f64>::try_from(change.gt(0.01).to_kind(Kind::Double).mean_dim(
                    0,
                    false,
                    Kind::Double,
                )),
            )
        });
        let row = err?
            .iter()
            .zip(chg?)
            .zip(moving?)
            .enumerate()
            .map(|(d, ((e, c), m))| format!("{d}:{e:.3}/{c:.3}/{:.0}%", 100.0 * m))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "  per dimension, error / nothing-changes / share of steps it changes by > 0.01: {row}"
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let Some(run) = args.next() else {
        bail!("usage: checkpoint_probe RUN_DIR [--fit-model N [--fit-records R]] [DIM:DELTA ...]");
    };
    let mut count_after = |flag: &str, default: usize| -> Result<usize> {
        if args.peek().map(String::as_str) != Some(flag) {
            return Ok(default);
        }
        args.next();
        let n = args
            .next()
            .with_context(|| format!("{flag} needs a count"))?;
        n.parse()
            .with_context(|| format!("{flag} {n:?}: expected a count"))
    };
    let fit_steps = count_after("--fit-model", 0)?;
    let fit_records = count_after("--fit-records", 5000)?.max(2);
    let shifts = args.map(|a| parse_shift(&a)).collect::<Result<Vec<_>>>()?;
    let run = Path::new(&run);
    let mut cfg = LearnConfig::from_yaml_file(run.join("preset.yaml"))?;
    mbarl_node::common::resolve_state_norm(&mut cfg, run)?;
    let trs = demos::load_role(run, "forward")?;
    if trs.is_empty() {
        bail!("{}: no forward demos", run.display());
    }
    let obs = trs
        .iter()
        .map(|t| convert::observation(&t.observation, &cfg))
        .collect::<Result<Vec<_>, _>>()?;
    let demo_obs = convert::obs_batch(&obs.iter().collect::<Vec<_>>(), &cfg);
    let demo_actions = Tensor::from_slice(
        &trs.iter()
            .flat_map(|t| t.action.clone())
            .collect::<Vec<f32>>(),
    )
    .reshape([trs.len() as i64, -1]);

    let policies = CheckpointStore::new(run, &bundle::policy_bundle("forward"), 5);
    let Some(policy_ck) = policies.load_newest() else {
        bail!("{}: no forward policy checkpoint", run.display());
    };
    let mut policy = Policy::new(&cfg, Device::Cpu)?;
    bundle::load_policy(&mut policy, &cfg, "forward", &policy_ck)?;
    let pv = policy_ck.meta.version;

    let worlds = CheckpointStore::new(run, bundle::WORLD_MODEL, 5);
    let mut versions = worlds.versions();
    versions.reverse();
    let mut previous: Option<(Tensor, Tensor)> = None;
    let mut newest = None;
    for v in versions {
        let w = load_world(&cfg, &worlds.dir().join(format!("v{v}.safetensors")))?;
        let z = w.encode_mean(&demo_obs)?;
        let a = policy.actor.act(&z, true);
        let spread = z
            .std_dim(0, true, false)
            .mean(Kind::Float)
            .double_value(&[]);
        let moved = previous.as_ref().map_or(String::from("-"), |(pz, pa)| {
            format!(
                "{:.3} (actions {:.3})",
                mean_abs(&(&z - pz)),
                mean_abs(&(&a - pa))
            )
        });
        println!(
            "world v{v} + policy v{pv}: latent spread {spread:.3}, moved since the previous version {moved}, |a − demo a| {:.3}",
            mean_abs(&(&a - &demo_actions))
        );
        previous = Some((z, a));
        newest = Some(w);
    }
    let (Some(world), Some((z, a))) = (newest, previous) else {
        bail!("{}: no world-model checkpoint", run.display());
    };

    if !shifts.is_empty() {
        let Some(state) = demo_obs.state.as_ref() else {
            bail!(
                "DIM:DELTA moves a state dimension: {} is not a state-mode run",
                run.display()
            );
        };
        // z, a: the forward demos under the newest world model (the last version above)
        println!(
            "forward demos: forward actor's actions spread {:.3}",
            a.std_dim(0, true, false)
                .mean(Kind::Float)
                .double_value(&[])
        );
        // classifiers on the standardised state (state mode's default) read no latent: their
        // scores would need the state input, which this probe does not rebuild
        let classifiers = if cfg.classifier_reads_state() {
            None
        } else {
            load_classifiers(&cfg, run)?
        };
        let scores = |z: &Tensor| {
            classifiers.as_ref().map_or(String::new(), |(demo, goal)| {
                format!(
                    "; demo-state score {:.2}, goal score {:.2}",
                    demo.prob(z).mean(Kind::Float).double_value(&[]),
                    goal.prob(z).mean(Kind::Float).double_value(&[])
                )
            })
        };
        println!("forward demos as recorded{}", scores(&z));
        for &(dim, delta) in &shifts {
            if !(0..state.size()[1]).contains(&dim) {
                bail!(
                    "state dimension {dim} out of range (state_dim {})",
                    state.size()[1]
                );
            }
            let moved = state.copy();
            let _ = moved.narrow(1, dim, 1).g_add_scalar_(delta);
            let shifted = ObsBatch {
                state: Some(moved),
                proprio: demo_obs.proprio.as_ref().map(Tensor::shallow_clone),
                frames: None,
            };
            let zs = world.encode_mean(&shifted)?;
            let as_ = policy.actor.act(&zs, true);
            println!(
                "state dim {dim} moved by {delta}: latents moved {:.3}, forward actor's actions moved {:.3}{}",
                mean_abs(&(&zs - &z)),
                mean_abs(&(&as_ - &a)),
                scores(&zs)
            );
        }
    }

    let spec = ReplaySpec::from_config(&cfg);
    for kind in [BufferKind::Forward, BufferKind::Backward] {
        let (buf, _) = ReplayBuffer::open_kind(run, kind, spec, &cfg.replay)?;
        if buf.is_empty() {
            println!("{kind:?} replay: empty");
            continue;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let b = buf.sample(2000.min(buf.len()), &mut rng)?;
        let z = world.encode_mean(&b.obs)?;
        let (mu, log_std) = tch::no_grad(|| policy.actor.dist(&z));
        println!(
            "{kind:?} replay ({} records): forward actor |μ| {:.2}, |μ| > 3: {:.0} %, σ {:.3}; recorded |a| > 0.99: {:.0} %",
            buf.len(),
            mean_abs(&mu),
            100.0 * share_above(&mu, 3.0),
            log_std.exp().mean(Kind::Float).double_value(&[]),
            100.0 * share_above(&b.action, 0.99),
        );
        model_error(
            &world,
            &buf,
            cfg.alm.horizon.max(1),
            &format!("{kind:?} replay model error"),
        )?;
        action_timing(&buf, &format!("{kind:?} replay action timing"))?;
        if fit_steps > 0 && kind == BufferKind::Forward {
            fit_model(&cfg, &world, &buf, fit_steps, fit_records)?;
        }
    }
    Ok(())
}
