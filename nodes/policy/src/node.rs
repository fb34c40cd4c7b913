//! The ROS shell of a policy node (shared by `policy`, `forward_policy`, `backward_policy`).
//!
//! Subscribes `/mbarl/observation` (Reliable 5), `/mbarl/phase` (Latched), `/mbarl/transition`
//! (Lossless), `/mbarl/model/checkpoint` and `/mbarl/classifier/checkpoint` (Latched), the
//! optional `task_reward_topic` (std_msgs/Float64); publishes `/mbarl/<role>/action` (Reliable 5)
//! and `/mbarl/<role>/checkpoint` (Latched), `/mbarl/training_stats`.
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::acting::ActingPolicy;
use crate::imagined_step::ArmRule;
use crate::trainer::{PolicyTrainer, Recorded};
use crate::{Role, select_reward};
use anyhow::{Context, Result, bail};
use mbarl_learn::CheckpointBytes;
use mbarl_msgs::msg::{
    ModelCheckpoint, Observation, Phase, PolicyAction, TrainingStats, Transition,
};
use mbarl_msgs::std_msgs::{Float64, Header};
use mbarl_node::{bundle, common, metrics::CsvMetrics};
use mbarl_ros::counters::RateLimitedWarn;
use mbarl_ros::params::IntoParam;
use mbarl_ros::{NodeBuilder, ParamKind, ParamSpec, Qos, RosArgs, Subscriber};

fn params(default_role: Role) -> Vec<ParamSpec> {
    let mut p = common::params();
    p.extend([
        ParamSpec::new("role", default_role.name(), "forward | backward"),
        ParamSpec::new("model_based", true, "MBPO model rollouts (false: model-free MEDAL baseline)"),
        ParamSpec::new("task_reward_topic", "", "std_msgs/Float64 reward of this policy's task, per control step (forward: the task reward, else the goal classifier unless transitions carry one; backward: a reverse-task reward such as the sim's /sim/reverse_reward instead of the demo-state classifier)"),
        ParamSpec::new("use_transition_task_reward", false, "forward: use Transition.task_reward (the robot has one) instead of the goal classifier; ignored by the backward policy (it is the forward task's)"),
        ParamSpec::new("updates_per_transition", 1.0, "gradient updates per recorded transition of this phase (demos count at start)"),
        ParamSpec::new("actor_sync_updates", 20i64, "hand new actor weights to the acting side every this many updates"),
        ParamSpec::new("checkpoint_period", 200i64, "publish and save a checkpoint every this many updates"),
        ParamSpec::new("stats_period_s", 2.0, "TrainingStats period"),
        ParamSpec::new("mean_action_in_training", false, "act with the policy's mean action in its training phases too (no sampling noise; it still learns off-policy from what it did). Default: sample, as SAC explores"),
    ]);
    // The arbiter's rule for the steps imagined with the state dynamics ensemble; optional
    // here (empty: no profile given), required only when `dynamics.enabled`.
    p.extend(
        phase_arbiter::config::command_rule_params()
            .into_iter()
            .map(|mut s| {
                s.description = format!(
                    "the robot profile's, for imagined steps (dynamics.enabled): {}",
                    s.description
                );
                if s.default.is_none() {
                    s.default = Some(match s.kind {
                        ParamKind::StringArray => Vec::<String>::new().into_param(),
                        _ => Vec::<f64>::new().into_param(),
                    });
                }
                s
            }),
    );
    p
}

enum Cmd {
    Record(Box<Transition>, Option<f32>),
    World(Box<ModelCheckpoint>),
    Classifiers(Box<ModelCheckpoint>),
}

enum Out {
    Weights(CheckpointBytes, bool),
    Stats {
        updates: u64,
        replay: u64,
        names: Vec<String>,
        values: Vec<f32>,
    },
}

struct Loop {
    ratio: f64,
    sync_every: u64,
    ck_every: u64,
    stats_period: Duration,
}

fn train_loop(
    mut t: PolicyTrainer,
    lp: Loop,
    rx: mpsc::Receiver<Cmd>,
    tx: tokio::sync::mpsc::UnboundedSender<Out>,
) {
    let warn = RateLimitedWarn::default();
    if t.version > 0 {
        // resumed: hand the stored weights to the acting side
        t.version -= 1;
        if let Ok(ck) = t.checkpoint(false) {
            let _ = tx.send(Out::Weights(ck, true));
        }
    }
    // resumed: the budget the running node had (its own phase's steps; not the relabelled
    // ones, which would owe thousands of updates at once and stall a lock-step arbiter)
    let mut seen = (t.own_records() + t.demos.len()) as f64;
    let (mut last_stats, mut last_sync) = (Instant::now(), Instant::now());
    let mut last = None;
    loop {
        let budget = t.waiting_for().is_none() && (seen * lp.ratio) as u64 > t.updates;
        let Ok(cmd) = mbarl_node::common::next_command(&rx, budget) else {
            break;
        };
        let result = match cmd {
            Some(Cmd::Record(tr, r)) => t.record(&tr, r).map(|kept| {
                // the update budget follows this phase's steps (relabelled ones ride along)
                if kept == Recorded::Own {
                    seen += 1.0;
                }
            }),
            Some(Cmd::World(m)) => t.load_world(&m).map(|_| ()),
            Some(Cmd::Classifiers(m)) => t.load_classifiers(&m).map(|_| ()),
            None if budget => match t.train_step() {
                Ok(Some(s)) => {
                    last = Some(s);
                    let persist = t.updates.is_multiple_of(lp.ck_every);
                    if t.updates.is_multiple_of(lp.sync_every) || persist {
                        match t.checkpoint(persist) {
                            Ok(ck) => {
                                let _ = tx.send(Out::Weights(ck, persist));
                            }
                            Err(e) => tracing::error!("cannot checkpoint the policy: {e}"),
                        }
                    }
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            None => Ok(()),
        };
        if let Err(e) = result
            && let Some(s) = warn.check()
        {
            tracing::warn!(suppressed = s, rejected = t.rejected, "{e}");
        }
        if last_sync.elapsed() > Duration::from_secs(1) {
            if let Err(e) = t.sync() {
                tracing::error!("replay sync failed: {e}");
            }
            last_sync = Instant::now();
        }
        if last_stats.elapsed() >= lp.stats_period {
            last_stats = Instant::now();
            let (mut names, mut values) = last.unwrap_or_default().named();
            names.extend(
                [
                    "demo_transitions",
                    "world_version",
                    "classifier_version",
                    "rejected",
                    "waiting",
                    "backlog",
                ]
                .map(String::from),
            );
            // updates owed to the data (0 while waiting for checkpoints: not this node's lag)
            let backlog = match t.waiting_for() {
                Some(_) => 0.0,
                None => (seen * lp.ratio - t.updates as f64).max(0.0),
            };
            values.extend([
                t.demos.len() as f32,
                t.world_version as f32,
                t.classifier_version as f32,
                t.rejected as f32,
                t.waiting_for().is_some() as u8 as f32,
                backlog as f32,
            ]);
            let _ = tx.send(Out::Stats {
                updates: t.updates,
                replay: t.replay.len() as u64,
                names,
                values,
            });
        }
    }
    let _ = t.sync();
}

/// Runs a policy node; `default_role` is the `role` parameter's default.
pub async fn run(default_role: Role) -> Result<()> {
    let (_, args) = RosArgs::from_env()?;
    mbarl_ros::logging::init_logging(args.log_level.as_deref());
    let node_name = format!("{}_policy", default_role.name());
    let node = NodeBuilder::new(&node_name)
        .about("the forward or backward policy (parameter role): acts on /mbarl/observation in its phase and learns from its replay, the demos and the world model")
        .ros_args(args)
        .params(params(default_role))
        .build()?;
    let role_s: String = node.param("role")?;
    let Some(role) = Role::parse(&role_s) else {
        bail!("parameter role must be forward or backward, got `{role_s}`")
    };
    let common::LearnSetup {
        cfg,
        device,
        run_dir,
        threads,
    } = common::LearnSetup::from_node(&node)?;
    if let Some((dim, interface)) =
        phase_arbiter::config::profile_action_dim(node.startup_params())?
        && dim != cfg.obs.action_dim
    {
        bail!(
            "the robot profile's command_interface {interface} takes {dim}-value actions, the learn config's obs.action_dim is {}: set obs.action_dim to {dim}",
            cfg.obs.action_dim
        );
    }
    let task_topic: String = node.param("task_reward_topic")?;
    let has_task = !task_topic.is_empty()
        || (role == Role::Forward && node.param::<bool>("use_transition_task_reward")?);
    let reward = select_reward(role, has_task);
    let model_based: bool = node.param("model_based")?;
    let trainer = PolicyTrainer::new(
        cfg.clone(),
        role,
        model_based,
        reward,
        device,
        Some(&run_dir),
    )?;
    let mut trainer = trainer;
    if model_based && cfg.dynamics.enabled {
        let params = node.startup_params();
        let limits = phase_arbiter::config::limits_from(params).context(
            "dynamics.enabled: the imagined steps need the robot profile's joint limits",
        )?;
        if limits.joints() != cfg.obs.action_dim {
            bail!(
                "dynamics.enabled: the robot profile has {} joints, obs.action_dim is {}",
                limits.joints(),
                cfg.obs.action_dim
            );
        }
        let workspace = phase_arbiter::config::workspace_from(params, limits.joints())?;
        let rate: f64 = node.param("control_rate_hz")?;
        trainer.set_arm_rule(ArmRule {
            limits,
            workspace,
            period_s: 1.0 / rate.max(1e-3),
        });
    }
    tracing::info!(role = role.name(), model_based, ?reward, replay = trainer.replay.len(), demos = trainer.demos.len(), run_dir = %run_dir.display(), "policy up");
    let lp = Loop {
        ratio: node.param::<f64>("updates_per_transition")?.max(0.0),
        sync_every: node.param::<i64>("actor_sync_updates")?.max(1) as u64,
        ck_every: node.param::<i64>("checkpoint_period")?.max(1) as u64,
        stats_period: Duration::from_secs_f64(node.param::<f64>("stats_period_s")?.max(0.1)),
    };
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    let trainer = std::thread::Builder::new()
        .name(format!("{}_train", role.name()))
        .spawn(move || {
            common::training_thread(threads);
            train_loop(trainer, lp, cmd_rx, out_tx)
        })?;
    let relabel = cfg.medal.backward_learns_from_all;
    let mut acting = ActingPolicy::new(cfg, role, device)?;
    let mean_in_training: bool = node.param("mean_action_in_training")?;

    let observations =
        node.subscriber::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })?;
    let phase_sub = node.subscriber::<Phase>("/mbarl/phase", Qos::Latched)?;
    let transitions = node.subscriber::<Transition>("/mbarl/transition", Qos::Lossless)?;
    let world_ck = node.subscriber::<ModelCheckpoint>("/mbarl/model/checkpoint", Qos::Latched)?;
    let clf_ck =
        node.subscriber::<ModelCheckpoint>("/mbarl/classifier/checkpoint", Qos::Latched)?;
    let task_sub: Option<Subscriber<Float64>> = if task_topic.is_empty() {
        None
    } else {
        Some(node.subscriber(&task_topic, Qos::Reliable { depth: 10 })?)
    };
    let action_pub = node.publisher::<PolicyAction>(
        &format!("/mbarl/{}/action", role.name()),
        Qos::Reliable { depth: 5 },
    )?;
    let ck_pub = node.publisher::<ModelCheckpoint>(
        &format!("/mbarl/{}/checkpoint", role.name()),
        Qos::Latched,
    )?;
    let stats_pub =
        node.publisher::<TrainingStats>("/mbarl/training_stats", Qos::Reliable { depth: 10 })?;
    let mut csv = CsvMetrics::open(&run_dir, &node_name);
    let warn = RateLimitedWarn::default();
    let reject = |what: &str, e: &dyn std::fmt::Display| {
        let total = node
            .counters()
            .counter(&format!("rejected.{what}"))
            .increment();
        if let Some(s) = warn.check() {
            tracing::warn!(total, suppressed = s, "{what}: {e}");
        }
    };
    let mut phase: Option<u8> = None;
    let mut task_reward: Option<f32> = None;
    let started = Instant::now();
    loop {
        tokio::select! {
            biased;
            Some(obs) = observations.recv() => {
                if !role.acts_in(phase) {
                    continue;
                }
                let deterministic = crate::acts_deterministically(phase, mean_in_training);
                match acting.act(&obs, deterministic) {
                    Ok(action) => {
                        let msg = PolicyAction {
                            header: Header { stamp: node.now(), frame_id: String::new() },
                            policy: role.policy_id(),
                            observation_seq: obs.seq,
                            policy_version: acting.policy_version,
                            action,
                        };
                        if let Err(e) = action_pub.publish(msg) {
                            reject("publish", &e);
                        }
                    }
                    Err(e) => reject("observation", &e),
                }
            }
            Some(p) = phase_sub.recv() => phase = Some(p.phase),
            Some(out) = out_rx.recv() => match out {
                Out::Weights(ck, publish) => {
                    if let Err(e) = acting.load_policy(&ck) {
                        reject("policy_weights", &e);
                    }
                    if publish && let Err(e) = ck_pub.publish(bundle::to_msg(&ck, node.now())) {
                        reject("publish", &e);
                    }
                }
                Out::Stats { updates, replay, names, values } => {
                    csv.row(started.elapsed().as_secs_f64(), updates, replay, &names, &values);
                    let _ = stats_pub.publish(TrainingStats {
                        header: Header { stamp: node.now(), frame_id: String::new() },
                        node: node.name().to_string(),
                        updates,
                        replay_size: replay,
                        names,
                        values,
                    });
                }
            },
            Some(ck) = world_ck.recv() => {
                match acting.offer_world(&ck) {
                    Ok(true) => tracing::info!(version = ck.version, "world model swapped in"),
                    Ok(false) => {}
                    Err(e) => { reject("checkpoint", &e); continue; }
                }
                if cmd_tx.send(Cmd::World(Box::new(ck))).is_err() { bail!("the training thread stopped"); }
            }
            Some(ck) = clf_ck.recv() => {
                if cmd_tx.send(Cmd::Classifiers(Box::new(ck))).is_err() { bail!("the training thread stopped"); }
            }
            Some(t) = transitions.recv() => {
                if crate::learns_from(role, reward, relabel, t.phase) {
                    // The transition's task reward is the forward task's: the backward policy
                    // labels its steps with its own topic's newest value, and records none
                    // before that topic has spoken.
                    let r = match role {
                        Role::Forward => task_reward.filter(|_| !t.has_task_reward),
                        Role::Backward => task_reward,
                    };
                    if role == Role::Backward && reward == crate::RewardChoice::Task && r.is_none() {
                        reject("task_reward", &"no reverse-task reward received yet");
                        continue;
                    }
                    if cmd_tx.send(Cmd::Record(Box::new(t), r)).is_err() { bail!("the training thread stopped"); }
                }
            }
            Some(r) = Subscriber::recv_optional(&task_sub) => {
                if r.data.is_finite() { task_reward = Some(r.data as f32); } else { reject("task_reward", &"non-finite"); }
            }
            _ = tokio::signal::ctrl_c() => {
                // the training thread syncs its replay and ends its update before libtorch goes
                tracing::info!("stopping");
                drop(cmd_tx);
                let _ = tokio::task::spawn_blocking(move || trainer.join()).await;
                return Ok(());
            }
        }
    }
}
