//! Property-based fuzzing of the params-file parser and the `--ros-args` parser (issue 8,
//! fuzzing): any text gives blocks or an error, never a panic, a hang or a huge allocation;
//! parsed blocks resolve against declared parameters of every kind to values or errors.
//!
//! `PROPTEST_CASES` scales the cases:
//! `PROPTEST_CASES=20000 cargo test -p mbarl-ros --test fuzz_params --release`.

use std::path::Path;
use std::time::{Duration, Instant};

use mbarl_ros::args::RosArgs;
use mbarl_ros::params::{ParamKind, ParamSpec, parse_params_yaml, resolve_params};
use proptest::prelude::*;

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("use_sim_time", false, ""),
        ParamSpec::new("rate", 20.0, ""),
        ParamSpec::new("steps", 3i64, ""),
        ParamSpec::new("name", "x", ""),
        ParamSpec::new("limits.max_step", vec![0.1, 0.2], ""),
        ParamSpec::new("joints", vec!["a".to_string()], ""),
        ParamSpec::new("flags", vec![true], ""),
        ParamSpec::new("counts", vec![1i64], ""),
        ParamSpec::required("blob", ParamKind::ByteArray, ""),
    ]
}

/// Parses `text`; when it parses, resolves it for a few node names with some overrides.
fn parse_and_resolve(text: &str, overrides: &[String]) {
    let path = Path::new("fuzz.yaml");
    let Ok(blocks) = parse_params_yaml(text, path) else {
        return;
    };
    let args: Vec<String> = std::iter::once("--ros-args".to_string())
        .chain(overrides.iter().flat_map(|o| ["-p".to_string(), o.clone()]))
        .collect();
    let overrides = RosArgs::parse(args)
        .map(|(_, a)| a.params)
        .unwrap_or_default();
    for (fq, name) in [
        ("/arbiter", "arbiter"),
        ("/ns/arbiter", "arbiter"),
        ("/a/b/c", "c"),
    ] {
        if let Err(e) = resolve_params(&specs(), fq, name, &blocks, &overrides) {
            let _ = e.to_string();
        }
    }
}

/// YAML-ish text: fragments that matter to YAML and to params files, in any order.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("/**:".to_string()),
        Just("ros__parameters:".to_string()),
        Just("/ns/arbiter:".to_string()),
        Just("arbiter:".to_string()),
        Just("*:".to_string()),
        Just("\n".to_string()),
        Just("\n  ".to_string()),
        Just("\n    ".to_string()),
        Just("\t".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(", ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("!tag ".to_string()),
        Just("? ".to_string()),
        Just("'q'".to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("|\n  x".to_string()),
        Just("---\n".to_string()),
        Just("...\n".to_string()),
        Just("<<: *a".to_string()),
        Just("~".to_string()),
        Just(".nan".to_string()),
        Just("-.inf".to_string()),
        Just("0x1F".to_string()),
        Just("1e400".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("use_sim_time".to_string()),
        Just("rate".to_string()),
        Just("steps".to_string()),
        Just("limits".to_string()),
        Just("max_step".to_string()),
        Just("blob".to_string()),
        "[a-z_]{1,8}",
        "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
        "[ -~]{0,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

/// A valid params file with every kind of value, as a starting point for mutations.
const VALID: &str = "/**:
  ros__parameters:
    use_sim_time: true
    rate: 10
    name: arm
/ns:
  arbiter:
    ros__parameters:
      limits: {max_step: [0.1, 0.2]}
      joints: [a, b]
      flags: [true, false]
      counts: [1, 2, 3]
      blob: [0, 255, 7]
      steps: 5
";

/// Cases per property: `PROPTEST_CASES`, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(500), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn yamlish_text_never_panics(text in yamlish(), overrides in prop::collection::vec("[a-z_.]{1,10}:=[ -~]{0,10}", 0..3)) {
        parse_and_resolve(&text, &overrides);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        parse_and_resolve(&text, &[]);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, "[ -~\n]{0,6}"), 1..6),
    ) {
        let mut text = VALID.to_string();
        for (at, kind, s) in edits {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let i = boundaries[at.index(boundaries.len())];
            match kind {
                0 => text.insert_str(i, &s),
                1 => {
                    let end = boundaries.iter().copied().find(|&b| b >= i + s.len().max(1)).unwrap_or(text.len());
                    text.replace_range(i..end, "");
                }
                _ => {
                    let end = boundaries.iter().copied().find(|&b| b >= i + s.len()).unwrap_or(text.len());
                    text.replace_range(i..end, &s);
                }
            }
        }
        parse_and_resolve(&text, &[]);
    }

    #[test]
    fn ros_args_never_panic(args in prop::collection::vec(prop_oneof![
        Just("--ros-args".to_string()), Just("--".to_string()), Just("-r".to_string()),
        Just("-p".to_string()), Just("--params-file".to_string()), Just("-e".to_string()),
        Just("--log-level".to_string()), Just("__node:=x".to_string()), Just("a:=b".to_string()),
        Just(":=".to_string()), Just("n:a:=b".to_string()), "\\PC{0,12}",
    ], 0..12)) {
        let _ = RosArgs::parse(args);
    }
}

/// Hostile shapes: deep nesting, alias bombs, huge scalars. Each parses or fails within a
/// second, without a stack overflow or an explosion of memory.
#[test]
fn hostile_yaml_fails_fast() {
    let nested = |open: &str, close: &str, depth: usize| {
        format!(
            "/**:\n  ros__parameters:\n    x: {}{}\n",
            open.repeat(depth),
            close.repeat(depth)
        )
    };
    let mut bomb =
        String::from("/**:\n  ros__parameters:\n    a0: [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb += &format!(
            "    a{i}: [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        );
    }
    // Anchors need `&`: put them on the values.
    let bomb = bomb
        .lines()
        .map(|l| match l.split_once(": [") {
            Some((k, v)) if k.trim().starts_with('a') => {
                format!("{k}: &{} [{v}", k.trim())
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let cases = [
        nested("[", "]", 100_000),
        nested("{a: ", "}", 50_000),
        "- ".repeat(50_000),
        format!(
            "/**:\n  ros__parameters:\n    x: {}\n",
            "9".repeat(1_000_000)
        ),
        bomb,
        "\u{feff}/**: {ros__parameters: {x: 1}}".to_string(),
    ];
    for (i, text) in cases.iter().enumerate() {
        let t0 = Instant::now();
        parse_and_resolve(text, &[]);
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "case {i} took {:?}",
            t0.elapsed()
        );
    }
}
