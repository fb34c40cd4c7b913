//! Diagnostic for a run directory's checkpoints (docs/RESULTS.md, "what fails on push"):
//!
//!   cargo run --release -p policy --example checkpoint_probe -- RUN_DIR
//!
//! 1. Encoder drift: for each stored world-model version (the newest 5), the forward demos'
//!    latents (encoder means), how far they moved since the previous version relative to their
//!    spread, how far the newest forward actor's actions moved with them, and the actor's
//!    distance to the demo actions.
//! 2. Saturation: the newest forward actor's pre-tanh means on states sampled from each phase's
//!    replay, and the share of recorded actions at the limits.
//!
//! Reads only; run it on a stopped run (the replay is opened like the nodes open it).
use anyhow::{Context, Result, bail};
use mbarl_learn::replay::{BufferKind, ReplayBuffer, ReplaySpec};
use mbarl_learn::{LearnConfig, Policy, WorldModel, checkpoint};
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

fn load_world(cfg: &LearnConfig, path: &Path) -> Result<WorldModel> {
    let ck = checkpoint::load(path).with_context(|| format!("loading {}", path.display()))?;
    let mut w = WorldModel::new(cfg, Device::Cpu)?;
    bundle::load_world_model(&mut w, cfg, &ck)?;
    Ok(w)
}

fn main() -> Result<()> {
    let Some(run) = std::env::args().nth(1) else {
        bail!("usage: checkpoint_probe RUN_DIR");
    };
    let run = Path::new(&run);
    let cfg = LearnConfig::from_yaml_file(run.join("preset.yaml"))?;
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
    let Some(world) = newest else {
        bail!("{}: no world-model checkpoint", run.display());
    };

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
