//! `NODE --help`: what a node does and the parameters it declares, printed instead of starting
//! it ([`crate::NodeBuilder::about`]).
use crate::params::{ParamSpec, ParameterValue};

/// Whether the program's own arguments (those before any `--ros-args`) ask for help.
pub fn requested<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    args.into_iter()
        .map(|a| a.as_ref().to_string())
        .take_while(|a| a != "--ros-args")
        .any(|a| a == "-h" || a == "--help")
}

fn value(v: &ParameterValue) -> String {
    fn list<T: ToString>(v: &[T]) -> String {
        format!(
            "[{}]",
            v.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
        )
    }
    match v {
        ParameterValue::NotSet => "(none)".into(),
        ParameterValue::Boolean(b) => b.to_string(),
        ParameterValue::Integer(i) => i.to_string(),
        ParameterValue::Double(d) => format!("{d:?}"),
        ParameterValue::String(s) => format!("{s:?}"),
        ParameterValue::ByteArray(b) => list(b),
        ParameterValue::BooleanArray(b) => list(b),
        ParameterValue::IntegerArray(i) => list(i),
        ParameterValue::DoubleArray(d) => list(d),
        ParameterValue::StringArray(s) => format!("{s:?}"),
    }
}

/// The help text of node `name`: usage, `about`, then every parameter with its type, default
/// (or "required") and description.
pub fn text(name: &str, about: &str, specs: &[ParamSpec]) -> String {
    let mut out = format!(
        "{name}: {about}\n\nUsage: {name} [--ros-args [-p NAME:=VALUE]... [--params-file FILE]... \
         [-r FROM:=TO]... [--log-level LEVEL]]\n\nParameters ({}):\n",
        specs.len()
    );
    for s in specs {
        let default = match &s.default {
            Some(v) => format!("default {}", value(v)),
            None => "required".into(),
        };
        out += &format!(
            "  {} ({}, {default})\n      {}\n",
            s.name, s.kind, s.description
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_asked_before_the_ros_arguments_only() {
        assert!(requested(["--help"]));
        assert!(requested(["x", "-h"]));
        assert!(!requested(["--ros-args", "-p", "a:=1", "--help"]));
        assert!(!requested(Vec::<String>::new()));
    }

    #[test]
    fn the_text_lists_every_parameter() {
        let specs = [
            ParamSpec::new("rate", 20.0, "control rate (Hz)"),
            ParamSpec::new("names", vec!["a".to_string()], "joints"),
        ];
        let t = text("arm", "drives the arm", &specs);
        assert!(t.starts_with("arm: drives the arm"), "{t}");
        assert!(
            t.contains("rate (double, default 20.0)\n      control rate (Hz)"),
            "{t}"
        );
        assert!(t.contains("names (string array, default [\"a\"])"), "{t}");
        assert!(t.contains("Parameters (2)"), "{t}");
    }
}
