//! MEDAL's demo-state classifier and backward reward; MBPO rollouts truncated by ensemble
//! disagreement.
mod common;

use mbarl_learn::config::{Component, MedalConfig};
use mbarl_learn::mbpo::{LatentBuffer, branched_rollout};
use mbarl_learn::medal::{ClassifierTrainer, backward_reward, roc_auc};
use mbarl_learn::nets::{Actor, LatentModel};
use std::time::Instant;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

const OPTS: (Kind, Device) = (Kind::Float, Device::Cpu);

/// Two unit-variance Gaussian clouds in 8-D whose means are 3 apart: the Bayes-optimal AUC is
/// Φ(3/√2) ≈ 0.983.
fn clouds(n: i64) -> (Tensor, Tensor) {
    let dir = Tensor::ones([8], OPTS) / 8f64.sqrt();
    let pos = Tensor::randn([n, 8], OPTS) + &dir * 1.5;
    let neg = Tensor::randn([n, 8], OPTS) - &dir * 1.5;
    (pos, neg)
}

#[test]
fn demo_classifier_separates_clouds_and_backward_reward_is_monotone() {
    let t0 = Instant::now();
    let _seeded = common::init(1);
    let cfg = common::small_state_config(8, 2);
    let mut clf = ClassifierTrainer::new(&cfg, Device::Cpu, Component::DemoClassifier).unwrap();
    assert!(cfg.medal.mixup_alpha > 0.0, "the default trains with mixup");
    for _ in 0..400 {
        let (pos, neg) = clouds(256);
        clf.train_step(&pos, &neg).unwrap();
    }
    let (pos, neg) = clouds(2000);
    let sp: Vec<f64> = Vec::try_from(clf.prob(&pos).to_kind(Kind::Double)).unwrap();
    let sn: Vec<f64> = Vec::try_from(clf.prob(&neg).to_kind(Kind::Double)).unwrap();
    let auc = roc_auc(&sp, &sn);
    eprintln!("AUC {auc:.4} (Bayes-optimal 0.983)");
    // Bound: AUC > 0.95 on fresh samples.
    assert!(auc > 0.95, "AUC {auc}");

    // The backward reward is a non-decreasing function of the classifier's confidence:
    // sort held-out states by f(z) and check the rewards come out sorted too.
    let all = Tensor::cat(&[&pos, &neg], 0);
    let p = clf.prob(&all);
    let r = clf.reward(&all);
    let order = p.argsort(0, false);
    let p_sorted: Vec<f32> = Vec::try_from(p.index_select(0, &order)).unwrap();
    let r_sorted: Vec<f32> = Vec::try_from(r.index_select(0, &order)).unwrap();
    for i in 1..r_sorted.len() {
        assert!(
            r_sorted[i] >= r_sorted[i - 1],
            "reward not monotone: f={} → r={}, f={} → r={}",
            p_sorted[i - 1],
            r_sorted[i - 1],
            p_sorted[i],
            r_sorted[i]
        );
    }
    // Demo-like states earn more than backward-phase-like states.
    let (rp, rn) = (
        clf.reward(&pos).mean(Kind::Float).double_value(&[]),
        clf.reward(&neg).mean(Kind::Float).double_value(&[]),
    );
    assert!(rp > rn + 1.0, "mean reward demo-like {rp} vs other {rn}");

    // The clamp: −log(1 − σ(x) + ε) → 0 for confident negatives, capped at reward_clamp·scale.
    let m = MedalConfig {
        reward_clamp: 5.0,
        reward_scale: 2.0,
        ..MedalConfig::default()
    };
    let logits = Tensor::linspace(-30.0, 30.0, 601, OPTS);
    let r: Vec<f32> = Vec::try_from(backward_reward(&logits, &m)).unwrap();
    assert!(r[0].abs() < 1e-6, "{}", r[0]);
    assert!((r[600] - 10.0).abs() < 1e-6, "{}", r[600]);
    assert!(r.windows(2).all(|w| w[1] >= w[0]));
    assert!(r.iter().all(|x| x.is_finite()));
    common::elapsed("medal", t0);
}

#[test]
fn mbpo_rollouts_stop_at_the_disagreement_threshold() {
    let t0 = Instant::now();
    let _seeded = common::init(2);
    let mut cfg = common::small_state_config(4, 2);
    cfg.encoder.latent_dim = 4;
    cfg.model.ensemble_size = 4;
    let vs = nn::VarStore::new(Device::Cpu);
    let model = LatentModel::new(vs.root() / "model", &cfg);
    let actor = Actor::new(vs.root() / "actor", &cfg);
    // Fit the ensemble to an expanding system z' = 1.3 z + 0.1 a on data with |z| ≲ 1: rollouts
    // drift out of the data, and the members disagree more the further they get.
    let mut opt = nn::Adam::default().build(&vs, 2e-3).unwrap();
    for _ in 0..1500 {
        let z = Tensor::randn([256, 4], OPTS) * 0.5;
        let a = Tensor::rand([256, 2], OPTS) * 2.0 - 1.0;
        let z_next = &z * 1.3 + Tensor::cat(&[&a, &a], 1) * 0.1;
        let loss = model.nll_loss(&z, &a, &z_next);
        opt.backward_step(&loss);
    }
    let start = Tensor::randn([200, 4], OPTS) * 0.5;
    let reward = |_z: &Tensor, _a: &Tensor, zn: &Tensor| {
        -zn.square().sum_dim_intlist(-1, false, Kind::Float)
    };
    let k = 10usize;

    // Threshold: 4× the median disagreement at the start states.
    let d0 = tch::no_grad(|| {
        LatentModel::disagreement(&model.forward(&start, &actor.act(&start, false)))
            .median()
            .double_value(&[])
    });
    let threshold = 4.0 * d0;
    let ro = branched_rollout(&model, &actor, &reward, &start, k, threshold).unwrap();
    let lens: Vec<i64> = Vec::try_from(&ro.branch_len).unwrap();
    let truncated: Vec<bool> = Vec::try_from(&ro.truncated).unwrap();
    let stop_d: Vec<f32> = Vec::try_from(&ro.stop_disagreement).unwrap();
    let kept_d: Vec<f32> = Vec::try_from(&ro.disagreement).unwrap();
    let branch: Vec<i64> = Vec::try_from(&ro.branch).unwrap();
    let step: Vec<i64> = Vec::try_from(&ro.step).unwrap();
    let n_trunc = truncated.iter().filter(|&&t| t).count();
    let mean_len = lens.iter().sum::<i64>() as f64 / lens.len() as f64;
    eprintln!(
        "threshold {threshold:.4}: {n_trunc}/200 branches truncated, mean length {mean_len:.2} of {k}"
    );

    // Every kept transition is within the threshold ...
    assert!(kept_d.iter().all(|&d| (d as f64) <= threshold));
    // ... every truncated branch was stopped by a step above it, and kept fewer than k steps;
    // untruncated branches ran the full k steps.
    for b in 0..200 {
        if truncated[b] {
            assert!(
                stop_d[b] as f64 > threshold,
                "branch {b} stopped at {} <= {threshold}",
                stop_d[b]
            );
            assert!((lens[b] as usize) < k);
        } else {
            assert_eq!(lens[b] as usize, k, "branch {b}");
        }
    }
    // Each branch's kept steps are exactly 0..len (nothing after the stop is kept).
    for (b, &len) in lens.iter().enumerate() {
        let mut s: Vec<i64> = branch
            .iter()
            .zip(&step)
            .filter(|(br, _)| **br == b as i64)
            .map(|(_, s)| *s)
            .collect();
        s.sort();
        assert_eq!(s, (0..len).collect::<Vec<_>>(), "branch {b}");
    }
    // The threshold bites mid-rollout here: the data leaves the training region within k steps.
    assert!(n_trunc > 100, "only {n_trunc} branches truncated");
    assert!(
        mean_len >= 1.0 && mean_len < k as f64 - 1.0,
        "mean length {mean_len}"
    );
    assert_eq!(ro.transitions.len(), lens.iter().sum::<i64>());

    // No threshold: full-length rollouts; a zero threshold: nothing kept.
    let full = branched_rollout(&model, &actor, &reward, &start, k, f64::INFINITY).unwrap();
    assert_eq!(full.transitions.len(), 200 * k as i64);
    let none = branched_rollout(&model, &actor, &reward, &start, k, 0.0).unwrap();
    assert_eq!(none.transitions.len(), 0);

    // The model buffer takes the rollouts and samples them back.
    let mut buf = LatentBuffer::new(500, 4, 2, Device::Cpu);
    buf.push(&full.transitions).unwrap();
    assert_eq!(buf.len(), 500);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    assert_eq!(buf.sample(64, &mut rng).unwrap().len(), 64);
    common::elapsed("mbpo", t0);
}

#[test]
fn imagined_transitions_with_non_finite_values_never_enter_the_model_buffer() {
    use mbarl_learn::alm::LatentTransitions;
    let mut buf = LatentBuffer::new(100, 4, 2, Device::Cpu);
    let z = Tensor::zeros([5, 4], OPTS);
    let _ = z.get(1).get(2).fill_(f64::NAN);
    let reward = Tensor::zeros([5], OPTS);
    let _ = reward.get(3).fill_(f64::INFINITY);
    buf.push(&LatentTransitions {
        z,
        action: Tensor::zeros([5, 2], OPTS),
        reward,
        z_next: Tensor::zeros([5, 4], OPTS),
        done: Tensor::zeros([5], OPTS),
    })
    .unwrap();
    assert_eq!(
        buf.len(),
        3,
        "rows 1 (NaN latent) and 3 (infinite reward) are left out"
    );
}

/// Latent transitions whose reward is their row number `first..first + n` (z = reward too), so
/// a sample tells where each row came from.
fn numbered(first: i64, n: i64) -> mbarl_learn::alm::LatentTransitions {
    let r = Tensor::arange_start(first, first + n, OPTS);
    mbarl_learn::alm::LatentTransitions {
        z: r.unsqueeze(1).repeat([1, 4]),
        action: Tensor::zeros([n, 2], OPTS),
        reward: r.shallow_clone(),
        z_next: r.unsqueeze(1).repeat([1, 4]),
        done: Tensor::zeros([n], OPTS),
    }
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

/// Known values: the ring keeps the newest `capacity` rows, overwriting the oldest in place.
#[test]
fn the_latent_buffer_overwrites_its_oldest_rows() {
    let mut buf = LatentBuffer::new(5, 4, 2, Device::Cpu);
    buf.push(&numbered(0, 3)).unwrap();
    assert_eq!(buf.len(), 3);
    buf.push(&numbered(3, 4)).unwrap(); // rows 3..7: 5 and 6 overwrite 0 and 1
    assert_eq!(buf.len(), 5);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let mut seen: Vec<f32> = values(&buf.sample(400, &mut rng).unwrap().reward);
    seen.sort_by(f32::total_cmp);
    seen.dedup();
    assert_eq!(
        seen,
        [2.0, 3.0, 4.0, 5.0, 6.0],
        "the 5 newest rows, nothing older"
    );
    // a push larger than the capacity keeps its last rows
    buf.push(&numbered(100, 12)).unwrap();
    let mut seen: Vec<f32> = values(&buf.sample(400, &mut rng).unwrap().reward);
    seen.sort_by(f32::total_cmp);
    seen.dedup();
    assert_eq!(seen, [107.0, 108.0, 109.0, 110.0, 111.0]);
}

/// Known values: `real_ratio` of the batch is real (rounded), the rest from the model buffer;
/// all real while the model buffer is empty.
#[test]
fn mixed_batches_split_real_and_model_rows_by_the_ratio() {
    use mbarl_learn::mbpo::mixed_batch;
    let real = numbered(0, 10); // rewards 0..10
    let mut model = LatentBuffer::new(100, 4, 2, Device::Cpu);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2);
    let all_real = mixed_batch(&real, &model, 0.25, 64, &mut rng).unwrap();
    assert_eq!(all_real.len(), 64);
    assert!(values(&all_real.reward).iter().all(|r| *r < 10.0));
    model.push(&numbered(1000, 50)).unwrap(); // model rows: rewards ≥ 1000
    for (ratio, n, want_real) in [(0.25, 64, 16), (0.05, 400, 20), (1.0, 32, 32), (0.0, 8, 0)] {
        let b = mixed_batch(&real, &model, ratio, n, &mut rng).unwrap();
        assert_eq!(b.len(), n as i64);
        let r = values(&b.reward);
        let n_real = r.iter().filter(|v| **v < 10.0).count();
        assert_eq!(n_real, want_real, "ratio {ratio}, batch {n}");
        assert!(r[..want_real].iter().all(|v| *v < 10.0), "real rows first");
    }
}

/// Known values of the AUC (the Mann–Whitney U over the pairs, ties one half).
#[test]
fn roc_auc_known_values() {
    assert_eq!(roc_auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
    assert_eq!(roc_auc(&[0.1, 0.2], &[0.9, 0.8]), 0.0);
    assert_eq!(roc_auc(&[0.5], &[0.5]), 0.5);
    // pairs (0.8 > 0.3), (0.8 > 0.6), (0.4 > 0.3), (0.4 < 0.6): 3 of 4
    assert_eq!(roc_auc(&[0.8, 0.4], &[0.3, 0.6]), 0.75);
    // (0.5 = 0.5) counts one half; 0.5 > 0.2, 0.7 > 0.5 and 0.7 > 0.2 count one each: 3.5 / 4
    assert_eq!(roc_auc(&[0.5, 0.7], &[0.5, 0.2]), 0.875);
    assert!(roc_auc(&[], &[0.1]).is_nan());
}

/// In state mode the classifiers read the standardised state, the encoder's input, which stays
/// the same while the encoder learns (their rewards do not drift with it); `medal.input:
/// latent` reads the encoder's latent mean, which moves.
#[test]
fn classifiers_read_the_standardised_state_in_state_mode() {
    use mbarl_learn::config::ClassifierInput;
    use mbarl_learn::{ObsBatch, WorldModel};
    let _seeded = common::init(4);
    let mut cfg = common::small_state_config(3, 2);
    cfg.encoder.state_shift = vec![1.0, 2.0, 3.0];
    cfg.encoder.state_scale = vec![2.0, 2.0, 0.5];
    assert!(cfg.classifier_reads_state());
    assert_eq!(cfg.classifier_input_dim(), 3);
    let obs = ObsBatch {
        state: Some(Tensor::from_slice(&[1f32, 3.0, 5.0]).reshape([1, 3])),
        ..Default::default()
    };
    let values = |t: Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
    let world = WorldModel::new(&cfg, Device::Cpu).unwrap();
    let before = world.classifier_input(&obs).unwrap();
    assert_eq!(values(before.shallow_clone()), [0.0, 2.0, 1.0]);
    let latent_before = world.encode_mean(&obs).unwrap();
    tch::no_grad(|| {
        for v in world.encoder_vs.trainable_variables() {
            let _ = v.shallow_clone().g_add_scalar_(0.5);
        }
    });
    assert!(world.classifier_input(&obs).unwrap().equal(&before));
    assert!(!world.encode_mean(&obs).unwrap().equal(&latent_before));

    cfg.medal.input = ClassifierInput::Latent;
    assert!(!cfg.classifier_reads_state());
    assert_eq!(cfg.classifier_input_dim(), cfg.encoder.latent_dim);
    let world = WorldModel::new(&cfg, Device::Cpu).unwrap();
    assert!(
        world
            .classifier_input(&obs)
            .unwrap()
            .equal(&world.encode_mean(&obs).unwrap())
    );
    assert_ne!(
        cfg.architecture(Component::DemoClassifier),
        common::small_state_config(3, 2).architecture(Component::DemoClassifier)
    );

    let mut pixels = cfg.clone();
    pixels.obs.mode = mbarl_learn::ObsMode::Pixels;
    pixels.medal.input = ClassifierInput::State;
    let err = pixels.validate().unwrap_err().to_string();
    assert!(
        err.contains("medal.input"),
        "a state classifier needs states: {err}"
    );
}

#[test]
fn state_model_buffer_overwrites_the_oldest_and_drops_non_finite_rows() {
    use mbarl_learn::mbpo::StateModelBuffer;
    use rand::SeedableRng;
    let mut b = StateModelBuffer::new(3, 2, 1, Device::Cpu);
    let rows = |v: &[f32]| Tensor::from_slice(v).reshape([-1, 1]).repeat([1, 2]);
    let acts = |n: i64| Tensor::zeros([n, 1], (Kind::Float, Device::Cpu));
    // values 1, 2, NaN, 3, 4: the NaN row is dropped, 1 is overwritten by 4
    let s = rows(&[1.0, 2.0, f32::NAN, 3.0, 4.0]);
    let r = Tensor::from_slice(&[1.0f32, 2.0, 0.0, 3.0, 4.0]);
    b.push(&s, &acts(5), &r, &s).unwrap();
    assert_eq!(b.len(), 3);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let batch = b.sample(200, &mut rng).unwrap();
    let seen: Vec<f32> = Vec::try_from(batch.reward.unique_dim(0, true, false, false).0).unwrap();
    assert_eq!(seen, vec![2.0, 3.0, 4.0]);
    let state = batch.obs.state.unwrap();
    assert_eq!(state.size(), vec![200, 2]);
    assert!(b.push(&rows(&[1.0]), &acts(2), &r, &rows(&[1.0])).is_err());
}
