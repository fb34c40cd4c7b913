//! LearnConfig: defaults, YAML errors that name the key, stable hash, architecture ids.
use mbarl_learn::DeviceChoice;
use mbarl_learn::config::{Component, FsyncPolicy, LearnConfig, ObsMode};

#[test]
fn defaults_and_partial_yaml() {
    let cfg = LearnConfig::from_yaml_str(
        "seed: 7\nobs:\n  mode: pixels\n  proprio_dim: 14\nreplay:\n  fsync: always\n",
    )
    .unwrap();
    assert_eq!(cfg.seed, 7);
    assert_eq!(cfg.obs.mode, ObsMode::Pixels);
    assert_eq!(cfg.obs.proprio_dim, 14);
    // Untouched keys keep their defaults.
    assert_eq!(cfg.obs.frame_height, 64);
    assert_eq!(cfg.alm, LearnConfig::default().alm);
    assert_eq!(cfg.replay.fsync, FsyncPolicy::Always);
    let cfg = LearnConfig::from_yaml_str("replay:\n  fsync: 5\ndevice: cpu\n").unwrap();
    assert_eq!(cfg.replay.fsync, FsyncPolicy::EveryN(5));
    assert_eq!(cfg.device, DeviceChoice::Cpu);
    // The empty document is the default config.
    assert_eq!(
        LearnConfig::from_yaml_str("{}").unwrap(),
        LearnConfig::default()
    );
}

#[test]
fn unknown_key_and_wrong_type_name_the_key() {
    let err = LearnConfig::from_yaml_str("alm:\n  gamma: 0.9\n  gama: 0.9\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("gama"), "{err}");
    let err = LearnConfig::from_yaml_str("model:\n  ensemble_size: many\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ensemble_size"), "{err}");
    let err = LearnConfig::from_yaml_str("model:\n  ensemble_size: 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.ensemble_size"), "{err}");
    let err = LearnConfig::from_yaml_str("device: tpu\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("tpu"), "{err}");
}

#[test]
fn hash_and_architecture() {
    let a = LearnConfig::default();
    let mut b = a.clone();
    assert_eq!(a.config_hash(), b.config_hash());
    assert_eq!(a.config_hash().len(), 64);
    b.alm.actor_lr = 1e-3;
    // Any change changes the hash, but not the architecture.
    assert_ne!(a.config_hash(), b.config_hash());
    for c in Component::ALL {
        assert_eq!(a.architecture(c), b.architecture(c));
    }
    b.encoder.latent_dim = 32;
    assert_ne!(
        a.architecture(Component::Actor),
        b.architecture(Component::Actor)
    );
    // Round trip through YAML keeps the hash.
    let back = LearnConfig::from_yaml_str(&a.to_yaml().unwrap()).unwrap();
    assert_eq!(back.config_hash(), a.config_hash());
}

#[test]
fn state_scale_must_match_the_state() {
    let ok = LearnConfig::from_yaml_str(
        "obs:\n  state_dim: 3\nencoder:\n  state_scale: [1.0, 10.0, 0.5]\n",
    )
    .unwrap();
    assert_eq!(ok.encoder.state_scale, vec![1.0, 10.0, 0.5]);
    for bad in [
        "obs:\n  state_dim: 3\nencoder:\n  state_scale: [1.0, 10.0]\n",
        "obs:\n  state_dim: 2\nencoder:\n  state_scale: [1.0, 0.0]\n",
        "obs:\n  state_dim: 2\nencoder:\n  state_scale: [1.0, .nan]\n",
        "obs:\n  mode: pixels\n  state_dim: 2\nencoder:\n  state_scale: [1.0, 2.0]\n",
    ] {
        let err = LearnConfig::from_yaml_str(bad).unwrap_err().to_string();
        assert!(err.contains("encoder.state_scale"), "{bad}: {err}");
    }
}

#[test]
fn state_shift_and_state_from_demos_are_checked() {
    for (bad, key) in [
        (
            "obs:\n  state_dim: 3\nencoder:\n  state_shift: [1.0, 10.0]\n",
            "encoder.state_shift",
        ),
        (
            "obs:\n  state_dim: 2\nencoder:\n  state_shift: [1.0, .inf]\n",
            "encoder.state_shift",
        ),
        (
            "obs:\n  state_dim: 2\nencoder:\n  state_from_demos: true\n  state_scale: [1.0, 2.0]\n",
            "encoder.state_from_demos",
        ),
        (
            "obs:\n  mode: pixels\nencoder:\n  state_from_demos: true\n",
            "encoder.state_from_demos",
        ),
        (
            "encoder:\n  state_std_floor: 0.0\n",
            "encoder.state_std_floor",
        ),
    ] {
        let err = LearnConfig::from_yaml_str(bad).unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
    let ok =
        LearnConfig::from_yaml_str("obs:\n  state_dim: 2\nencoder:\n  state_from_demos: true\n")
            .unwrap();
    assert!(ok.encoder.state_from_demos);
}

/// The model trust gate: unset by default (and then not in the hash, so older run directories
/// keep their config hash), a finite ratio > 0 when set.
#[test]
fn max_model_error_ratio_is_optional_and_checked() {
    let default = LearnConfig::default();
    assert_eq!(default.alm.max_model_error_ratio, None);
    assert!(!default.to_yaml().unwrap().contains("max_model_error_ratio"));
    let ok = LearnConfig::from_yaml_str("alm:\n  max_model_error_ratio: 0.35\n").unwrap();
    assert_eq!(ok.alm.max_model_error_ratio, Some(0.35));
    assert_ne!(ok.config_hash(), default.config_hash());
    for bad in ["0.0", "-1.0", ".nan", ".inf"] {
        let yaml = format!("alm:\n  max_model_error_ratio: {bad}\n");
        let err = LearnConfig::from_yaml_str(&yaml).unwrap_err().to_string();
        assert!(err.contains("alm.max_model_error_ratio"), "{bad}: {err}");
    }
}

/// docs/configuration.md has a row for every learn-config key, under its section's heading: a
/// key added to LearnConfig without a line there fails here.
#[test]
fn every_key_has_a_line_in_the_configuration_reference() {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let learn = page
        .split_once("## Learn config")
        .expect("a Learn config section")
        .1;
    // the text under each `### ...` heading
    let sections: Vec<(&str, &str)> = learn
        .split("\n### ")
        .skip(1)
        .map(|s| s.split_once('\n').unwrap_or((s, "")))
        .collect();
    let row = |section: &str, key: &str| {
        sections.iter().any(|(heading, body)| {
            let heading_names = if section.is_empty() {
                heading.contains("Top level")
            } else {
                heading.contains(&format!("`{section}`"))
            };
            heading_names && body.contains(&format!("| `{key}` |"))
        })
    };
    let mut cfg = LearnConfig::default();
    // optional keys are serialised only when set
    cfg.alm.max_model_error_ratio = Some(0.3);
    cfg.alm.target_entropy = Some(-4.0);
    cfg.actor.explore_std_max = Some(0.2);
    let value = serde_json::to_value(&cfg).unwrap();
    let mut missing = Vec::new();
    for (key, v) in value.as_object().unwrap() {
        match v.as_object() {
            Some(section) => {
                for k in section.keys() {
                    if !row(key, k) {
                        missing.push(format!("{key}.{k}"));
                    }
                }
            }
            None if !row("", key) => missing.push(key.clone()),
            None => {}
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks a row for {missing:?}"
    );
}
