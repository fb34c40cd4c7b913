//! Diagnostic for a run directory's checkpoints (docs/RESULTS.md, "what fails on push"):
//!
//!   cargo run --release -p policy --example checkpoint_probe -- RUN_DIR [DIM:DELTA ...]
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
//!
//! Reads only; run it on a stopped run (the replay is opened like the nodes open it).
use anyhow::{Context, Result, bail};
use mbarl_learn::medal::ClassifierTrainer;
use mbarl_learn::replay::{BufferKind, ReplayBuffer, ReplaySpec};
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

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(run) = args.next() else {
        bail!("usage: checkpoint_probe RUN_DIR [DIM:DELTA ...]");
    };
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
        let classifiers = load_classifiers(&cfg, run)?;
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
    }
    Ok(())
}
