//! ROS 2 parameters: declarations, params files (`--params-file`) and `-p name:=value` overrides.
//!
//! Params files use the ROS 2 format:
//!
//! ```yaml
//! /**:                      # every node
//!   ros__parameters:
//!     use_sim_time: true
//! /robot1/phase_arbiter:    # one node, by fully-qualified name (`phase_arbiter` alone means `/phase_arbiter`)
//!   ros__parameters:
//!     forward_steps: 300
//!     limits:
//!       max_step: 0.05      # nested keys become `limits.max_step`
//! ```
//!
//! Namespaces may also be nested YAML keys (`robot1: {phase_arbiter: {ros__parameters: …}}`);
//! `*` matches one name token and `**` any number. Files apply in command-line order, entries
//! in file order, then `-p` overrides. A value of the wrong type, a missing required parameter,
//! or an undeclared parameter given for this node by name is an error naming the parameter and file.

use std::fmt;
use std::path::{Path, PathBuf};

pub use ros2_client::ParameterValue;
use serde_yaml_ng::Value;
use thiserror::Error;

use crate::args::ParamOverride;

/// The type of a parameter, as in `rcl_interfaces/ParameterType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Bool,
    Integer,
    Double,
    String,
    ByteArray,
    BoolArray,
    IntegerArray,
    DoubleArray,
    StringArray,
}

impl ParamKind {
    pub fn of(value: &ParameterValue) -> Option<ParamKind> {
        Some(match value {
            ParameterValue::NotSet => return None,
            ParameterValue::Boolean(_) => ParamKind::Bool,
            ParameterValue::Integer(_) => ParamKind::Integer,
            ParameterValue::Double(_) => ParamKind::Double,
            ParameterValue::String(_) => ParamKind::String,
            ParameterValue::ByteArray(_) => ParamKind::ByteArray,
            ParameterValue::BooleanArray(_) => ParamKind::BoolArray,
            ParameterValue::IntegerArray(_) => ParamKind::IntegerArray,
            ParameterValue::DoubleArray(_) => ParamKind::DoubleArray,
            ParameterValue::StringArray(_) => ParamKind::StringArray,
        })
    }
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ParamKind::Bool => "bool",
            ParamKind::Integer => "integer",
            ParamKind::Double => "double",
            ParamKind::String => "string",
            ParamKind::ByteArray => "byte array",
            ParamKind::BoolArray => "bool array",
            ParamKind::IntegerArray => "integer array",
            ParamKind::DoubleArray => "double array",
            ParamKind::StringArray => "string array",
        };
        f.write_str(s)
    }
}

/// Rust values that are parameter values.
pub trait IntoParam {
    fn into_param(self) -> ParameterValue;
}

macro_rules! into_param {
    ($($t:ty => $variant:ident $(($conv:expr))?),* $(,)?) => {$(
        impl IntoParam for $t {
            fn into_param(self) -> ParameterValue {
                ParameterValue::$variant(into_param!(@conv self $(, $conv)?))
            }
        }
    )*};
    (@conv $v:ident) => { $v };
    (@conv $v:ident, $conv:expr) => { $conv($v) };
}

into_param! {
    bool => Boolean,
    i64 => Integer,
    f64 => Double,
    String => String,
    &str => String(str::to_string),
    Vec<bool> => BooleanArray,
    Vec<i64> => IntegerArray,
    Vec<f64> => DoubleArray,
    Vec<String> => StringArray,
}

/// A parameter a node declares.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    /// `None`: required, the node does not start without a value.
    pub default: Option<ParameterValue>,
    pub description: String,
}

impl ParamSpec {
    /// An optional parameter with a default (its type is the default's type).
    pub fn new(name: &str, default: impl IntoParam, description: &str) -> Self {
        let default = default.into_param();
        let kind = ParamKind::of(&default).unwrap_or(ParamKind::String);
        Self {
            name: name.into(),
            kind,
            default: Some(default),
            description: description.into(),
        }
    }

    /// A parameter without a default: start-up fails when no file or `-p` sets it.
    pub fn required(name: &str, kind: ParamKind, description: &str) -> Self {
        Self {
            name: name.into(),
            kind,
            default: None,
            description: description.into(),
        }
    }
}

/// Where a parameter value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSource {
    Default,
    File(PathBuf),
    CommandLine,
}

impl fmt::Display for ParamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamSource::Default => f.write_str("the default"),
            ParamSource::File(p) => write!(f, "params file {}", p.display()),
            ParamSource::CommandLine => f.write_str("the command line (-p)"),
        }
    }
}

#[derive(Debug, Error)]
pub enum ParamError {
    #[error("cannot read params file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("params file {path} is not valid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("params file {path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("parameter `{name}` from {origin}: expected {expected}, got {found}")]
    WrongType {
        name: String,
        expected: ParamKind,
        found: String,
        origin: ParamSource,
    },
    #[error(
        "parameter `{name}` from {origin} is not a parameter of node {node} (declared: {declared})"
    )]
    Unknown {
        name: String,
        node: String,
        declared: String,
        origin: ParamSource,
    },
    #[error(
        "required parameter `{name}` ({kind}) of node {node} is not set; give it in a params file ({files}) or with -p {name}:=VALUE"
    )]
    Missing {
        name: String,
        kind: ParamKind,
        node: String,
        files: String,
    },
    #[error("-p {name}:={value}: the value is not valid YAML: {message}")]
    BadOverride {
        name: String,
        value: String,
        message: String,
    },
}

/// A parameter with its final start-up value.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedParam {
    pub name: String,
    pub value: ParameterValue,
    pub source: ParamSource,
}

/// One `ros__parameters` block of a params file.
#[derive(Debug, Clone)]
pub struct ParamsBlock {
    /// Fully-qualified node pattern, e.g. `/**`, `/robot1/phase_arbiter`, `/*/camera_encoder`.
    pub node_pattern: String,
    pub params: Vec<(String, Value)>,
    pub path: PathBuf,
}

impl ParamsBlock {
    fn is_wildcard(&self) -> bool {
        self.node_pattern.contains('*')
    }
}

/// Reads a params file into its blocks, in file order.
pub fn load_params_file(path: &Path) -> Result<Vec<ParamsBlock>, ParamError> {
    let text = std::fs::read_to_string(path).map_err(|source| ParamError::Io {
        path: path.into(),
        source,
    })?;
    parse_params_yaml(&text, path)
}

/// Deepest `[`/`{` nesting accepted in a params file. The YAML parser fails beyond 128 levels
/// anyway, but only after a scan that is quadratic in the nesting (100 000 `[` took minutes).
pub const MAX_FLOW_NESTING: usize = 100;

/// The 1-based line where flow collections (`[`, `{`) nest deeper than `limit`, if they do.
/// A linear scan that skips quoted scalars and comments.
fn flow_nesting_exceeds(text: &str, limit: usize) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Single,
        Double,
        Comment,
    }
    let mut state = State::Plain;
    let (mut depth, mut line, mut escaped) = (0usize, 1usize, false);
    let mut previous = '\n';
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        match state {
            State::Plain => {
                // Quotes and comments start a token; `it's` and `a#b` are plain text.
                let token_start = previous.is_whitespace() || matches!(previous, '[' | '{' | ',');
                match c {
                    '[' | '{' => {
                        depth += 1;
                        if depth > limit {
                            return Some(line);
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    '\'' if token_start => state = State::Single,
                    '"' if token_start => state = State::Double,
                    '#' if token_start => state = State::Comment,
                    _ => {}
                }
            }
            State::Single if c == '\'' => state = State::Plain,
            State::Double if escaped => escaped = false,
            State::Double if c == '\\' => escaped = true,
            State::Double if c == '"' => state = State::Plain,
            State::Comment if c == '\n' => state = State::Plain,
            _ => {}
        }
        previous = c;
    }
    None
}

/// Parses params-file text (`path` is used in errors only).
pub fn parse_params_yaml(text: &str, path: &Path) -> Result<Vec<ParamsBlock>, ParamError> {
    if let Some(line) = flow_nesting_exceeds(text, MAX_FLOW_NESTING) {
        return Err(ParamError::Yaml {
            path: path.into(),
            message: format!(
                "`[`/`{{` nested deeper than {MAX_FLOW_NESTING} levels at line {line}"
            ),
        });
    }
    let root: Value = serde_yaml_ng::from_str(text).map_err(|e| ParamError::Yaml {
        path: path.into(),
        message: e.to_string(),
    })?;
    let mut blocks = Vec::new();
    match root {
        Value::Null => {}
        Value::Mapping(_) => collect_blocks(&root, "", path, &mut blocks)?,
        _ => {
            return Err(format_error(
                path,
                "the top level must be a mapping of node names".into(),
            ));
        }
    }
    Ok(blocks)
}

fn format_error(path: &Path, message: String) -> ParamError {
    ParamError::Format {
        path: path.into(),
        message,
    }
}

fn collect_blocks(
    value: &Value,
    prefix: &str,
    path: &Path,
    out: &mut Vec<ParamsBlock>,
) -> Result<(), ParamError> {
    let Value::Mapping(map) = value else {
        return Err(format_error(
            path,
            format!("`{prefix}` must be a mapping with a `ros__parameters` key"),
        ));
    };
    for (key, child) in map {
        let key = key
            .as_str()
            .ok_or_else(|| format_error(path, format!("non-string key under `{prefix}`")))?;
        if key == "ros__parameters" {
            let pattern = if prefix.is_empty() {
                "/".to_string()
            } else {
                prefix.to_string()
            };
            let mut params = Vec::new();
            flatten(child, "", path, &mut params)?;
            out.push(ParamsBlock {
                node_pattern: pattern,
                params,
                path: path.into(),
            });
        } else {
            let key = key.trim_matches('/');
            let next = format!("{prefix}/{key}");
            collect_blocks(child, &next, path, out)?;
        }
    }
    Ok(())
}

fn flatten(
    value: &Value,
    prefix: &str,
    path: &Path,
    out: &mut Vec<(String, Value)>,
) -> Result<(), ParamError> {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                let key = match key {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(format_error(
                            path,
                            format!("unsupported key under `{prefix}`"),
                        ));
                    }
                };
                let name = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(child, &name, path, out)?;
            }
        }
        Value::Null if prefix.is_empty() => {}
        other => out.push((prefix.to_string(), other.clone())),
    }
    Ok(())
}

/// Does the fully-qualified node name match a params-file node pattern?
pub fn node_matches(pattern: &str, node_fq: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').filter(|t| !t.is_empty()).collect();
    let name: Vec<&str> = node_fq.split('/').filter(|t| !t.is_empty()).collect();
    glob_tokens(&pat, &name)
}

fn glob_tokens(pat: &[&str], name: &[&str]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((&"**", rest)) => (0..=name.len()).any(|skip| glob_tokens(rest, &name[skip..])),
        Some((p, rest)) => match name.split_first() {
            Some((n, name_rest)) => (*p == "*" || p == n) && glob_tokens(rest, name_rest),
            None => false,
        },
    }
}

/// Converts a YAML value to a parameter value of the declared kind.
/// Integers are accepted where doubles are declared (YAML `1` for `1.0`).
pub fn yaml_to_param(value: &Value, kind: ParamKind) -> Result<ParameterValue, String> {
    let found = || describe_yaml(value);
    let as_f64 = |v: &Value| v.as_f64().filter(|_| v.is_number());
    Ok(match (kind, value) {
        (ParamKind::Bool, Value::Bool(b)) => ParameterValue::Boolean(*b),
        (ParamKind::Integer, Value::Number(n)) if n.is_i64() => {
            ParameterValue::Integer(n.as_i64().unwrap_or_default())
        }
        (ParamKind::Double, v @ Value::Number(_)) => {
            ParameterValue::Double(as_f64(v).ok_or_else(found)?)
        }
        (ParamKind::String, Value::String(s)) => ParameterValue::String(s.clone()),
        (_, Value::Sequence(items)) => {
            let all = |f: &dyn Fn(&Value) -> bool| items.iter().all(f);
            match kind {
                ParamKind::BoolArray if all(&|v| v.is_bool()) => {
                    ParameterValue::BooleanArray(items.iter().filter_map(Value::as_bool).collect())
                }
                ParamKind::IntegerArray if all(&|v| v.is_i64()) => {
                    ParameterValue::IntegerArray(items.iter().filter_map(Value::as_i64).collect())
                }
                ParamKind::ByteArray if all(&|v| v.as_u64().is_some_and(|b| b <= 255)) => {
                    ParameterValue::ByteArray(
                        items
                            .iter()
                            .filter_map(Value::as_u64)
                            .map(|b| b as u8)
                            .collect(),
                    )
                }
                ParamKind::DoubleArray if all(&|v| v.is_number()) => {
                    ParameterValue::DoubleArray(items.iter().filter_map(as_f64).collect())
                }
                ParamKind::StringArray if all(&|v| v.is_string()) => ParameterValue::StringArray(
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                ),
                _ => return Err(found()),
            }
        }
        _ => return Err(found()),
    })
}

fn describe_yaml(value: &Value) -> String {
    let text = serde_yaml_ng::to_string(value).unwrap_or_default();
    let text = text.trim();
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "double",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    };
    format!("{kind} `{text}`")
}

/// Computes every declared parameter's start-up value for the node `node_fq` (`/ns/name`).
pub fn resolve_params(
    specs: &[ParamSpec],
    node_fq: &str,
    node_name: &str,
    blocks: &[ParamsBlock],
    overrides: &[ParamOverride],
) -> Result<Vec<ResolvedParam>, ParamError> {
    let mut resolved: Vec<Option<ResolvedParam>> = specs
        .iter()
        .map(|s| {
            s.default.clone().map(|value| ResolvedParam {
                name: s.name.clone(),
                value,
                source: ParamSource::Default,
            })
        })
        .collect();
    let declared = || {
        specs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut apply =
        |name: &str, value: &Value, source: ParamSource, strict: bool| -> Result<(), ParamError> {
            let Some(index) = specs.iter().position(|s| s.name == name) else {
                if strict {
                    return Err(ParamError::Unknown {
                        name: name.into(),
                        node: node_fq.into(),
                        declared: declared(),
                        origin: source,
                    });
                }
                return Ok(());
            };
            let spec = &specs[index];
            let value = yaml_to_param(value, spec.kind).map_err(|found| ParamError::WrongType {
                name: name.into(),
                expected: spec.kind,
                found,
                origin: source.clone(),
            })?;
            resolved[index] = Some(ResolvedParam {
                name: name.into(),
                value,
                source,
            });
            Ok(())
        };
    for block in blocks
        .iter()
        .filter(|b| node_matches(&b.node_pattern, node_fq))
    {
        for (name, value) in &block.params {
            apply(
                name,
                value,
                ParamSource::File(block.path.clone()),
                !block.is_wildcard(),
            )?;
        }
    }
    for o in overrides
        .iter()
        .filter(|o| o.node.as_deref().is_none_or(|n| n == node_name))
    {
        let value: Value =
            serde_yaml_ng::from_str(&o.value).map_err(|e| ParamError::BadOverride {
                name: o.name.clone(),
                value: o.value.clone(),
                message: e.to_string(),
            })?;
        // Like rcl, a global `-p` for a parameter this node does not have is ignored.
        apply(&o.name, &value, ParamSource::CommandLine, o.node.is_some())?;
    }
    let files = {
        let mut f: Vec<String> = blocks
            .iter()
            .map(|b| b.path.display().to_string())
            .collect();
        f.dedup();
        if f.is_empty() {
            "none given".to_string()
        } else {
            f.join(", ")
        }
    };
    specs
        .iter()
        .zip(resolved)
        .map(|(spec, r)| {
            r.ok_or_else(|| ParamError::Missing {
                name: spec.name.clone(),
                kind: spec.kind,
                node: node_fq.into(),
                files: files.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("use_sim_time", false, ""),
            ParamSpec::new("rate_hz", 20.0, "control rate"),
            ParamSpec::new("limits.max_step", 0.05, ""),
            ParamSpec::new("joints", vec!["j1".to_string()], ""),
            ParamSpec::required("robot", ParamKind::String, "robot profile"),
        ]
    }

    fn resolve(yaml: &str, overrides: &[ParamOverride]) -> Result<Vec<ResolvedParam>, ParamError> {
        let blocks = parse_params_yaml(yaml, Path::new("p.yaml"))?;
        resolve_params(&specs(), "/ns/arbiter", "arbiter", &blocks, overrides)
    }

    fn value(r: &[ResolvedParam], name: &str) -> ParameterValue {
        r.iter()
            .find(|p| p.name == name)
            .map(|p| p.value.clone())
            .unwrap_or(ParameterValue::NotSet)
    }

    #[test]
    fn wildcard_then_node_then_override() {
        let yaml = "
/**:
  ros__parameters:
    use_sim_time: true
    robot: generic
    something_for_other_nodes: 1
ns:
  arbiter:
    ros__parameters:
      rate_hz: 10           # integer promoted to double
      limits: {max_step: 0.1}
      joints: [a, b]
/other:
  ros__parameters:
    rate_hz: 'not even a number'
";
        let o = [ParamOverride {
            node: None,
            name: "robot".into(),
            value: "sim_arm".into(),
        }];
        let r = resolve(yaml, &o).unwrap();
        assert_eq!(value(&r, "use_sim_time"), ParameterValue::Boolean(true));
        assert_eq!(value(&r, "rate_hz"), ParameterValue::Double(10.0));
        assert_eq!(value(&r, "limits.max_step"), ParameterValue::Double(0.1));
        assert_eq!(
            value(&r, "joints"),
            ParameterValue::StringArray(vec!["a".into(), "b".into()])
        );
        assert_eq!(value(&r, "robot"), ParameterValue::String("sim_arm".into()));
        assert_eq!(
            r.iter().find(|p| p.name == "rate_hz").unwrap().source,
            ParamSource::File("p.yaml".into())
        );
    }

    #[test]
    fn wrong_type_names_parameter_and_file() {
        let err = resolve(
            "/ns/arbiter:\n  ros__parameters:\n    rate_hz: fast\n    robot: x\n",
            &[],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("rate_hz") && msg.contains("p.yaml") && msg.contains("double"),
            "{msg}"
        );
    }

    #[test]
    fn missing_required_and_unknown_are_errors() {
        let err = resolve("", &[]).unwrap_err();
        assert!(
            matches!(err, ParamError::Missing { ref name, .. } if name == "robot"),
            "{err}"
        );
        let err = resolve(
            "/ns/arbiter:\n  ros__parameters:\n    robot: x\n    rate_hx: 3.0\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("rate_hx") && err.to_string().contains("p.yaml"),
            "{err}"
        );
    }

    #[test]
    fn node_patterns() {
        assert!(node_matches("/**", "/a/b/c"));
        assert!(node_matches("/*/arbiter", "/ns/arbiter"));
        assert!(!node_matches("/*/arbiter", "/arbiter"));
        assert!(node_matches("/arbiter", "/arbiter"));
        assert!(node_matches("/**/arbiter", "/arbiter"));
        assert!(!node_matches("/ns/arbiter", "/ns/other"));
    }

    #[test]
    fn deep_flow_nesting_is_refused_quickly() {
        let deep = format!("x: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let t0 = std::time::Instant::now();
        let err = resolve(&deep, &[]).unwrap_err();
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            err.to_string()
                .contains("nested deeper than 100 levels at line 1"),
            "{err}"
        );
        // Brackets in quotes and comments do not count; moderate nesting parses.
        let ok = format!(
            "/**:\n  ros__parameters:\n    robot: '{0}'\n    # {0}\n    joints: [\"{0}\", it's]\n    x: {1}{2}\n",
            "[".repeat(200),
            "[".repeat(50),
            "]".repeat(50)
        );
        assert!(parse_params_yaml(&ok, Path::new("p.yaml")).is_ok());
    }

    #[test]
    fn bad_yaml_is_a_clear_error() {
        let err = resolve("a: [unclosed", &[]).unwrap_err();
        assert!(matches!(err, ParamError::Yaml { .. }), "{err}");
        let err = resolve("- just a list", &[]).unwrap_err();
        assert!(matches!(err, ParamError::Format { .. }), "{err}");
    }
}
