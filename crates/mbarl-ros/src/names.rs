//! ROS 2 topic/service name resolution and remapping (relative, absolute and `~` private names).

use thiserror::Error;

use crate::args::Remap;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("invalid ROS name `{name}`: {why}")]
    Invalid { name: String, why: &'static str },
}

/// A node's identity for name resolution: namespace (`/` or `/a/b`) and base name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub namespace: String,
    pub name: String,
}

impl NodeIdentity {
    pub fn new(namespace: &str, name: &str) -> Result<Self, NameError> {
        let namespace = normalize_namespace(namespace)?;
        check_token(name, name)?;
        Ok(Self {
            namespace,
            name: name.to_string(),
        })
    }

    /// `/ns/name`.
    pub fn fully_qualified(&self) -> String {
        join(&self.namespace, &self.name)
    }

    /// Expands `name` to a fully-qualified name for this node.
    pub fn expand(&self, name: &str) -> Result<String, NameError> {
        let full = if let Some(rest) = name.strip_prefix('~') {
            let rest = rest.trim_start_matches('/');
            let private = self.fully_qualified();
            if rest.is_empty() {
                private
            } else {
                join(&private, rest)
            }
        } else if name.starts_with('/') {
            name.to_string()
        } else {
            join(&self.namespace, name)
        };
        validate_full(&full)?;
        Ok(full)
    }

    /// Expands `name` and applies the first matching remap rule (rcl semantics: rules are tried in order).
    pub fn resolve(&self, name: &str, remaps: &[Remap]) -> Result<String, NameError> {
        let full = self.expand(name)?;
        for rule in remaps {
            if rule.from.starts_with("__") || rule.node.as_deref().is_some_and(|n| n != self.name) {
                continue;
            }
            if self.expand(&rule.from)? == full {
                return self.expand(&rule.to);
            }
        }
        Ok(full)
    }
}

fn join(namespace: &str, name: &str) -> String {
    if namespace == "/" {
        format!("/{name}")
    } else {
        format!("{namespace}/{name}")
    }
}

fn normalize_namespace(ns: &str) -> Result<String, NameError> {
    let ns = if ns.starts_with('/') {
        ns.to_string()
    } else {
        format!("/{ns}")
    };
    let ns = if ns.len() > 1 {
        ns.trim_end_matches('/').to_string()
    } else {
        ns
    };
    if ns != "/" {
        validate_full(&ns)?;
    }
    Ok(ns)
}

fn validate_full(full: &str) -> Result<(), NameError> {
    if full.contains("//") {
        return Err(NameError::Invalid {
            name: full.into(),
            why: "repeated '/'",
        });
    }
    if full.ends_with('/') && full != "/" {
        return Err(NameError::Invalid {
            name: full.into(),
            why: "ends with '/'",
        });
    }
    for token in full.split('/').filter(|t| !t.is_empty()) {
        check_token(full, token)?;
    }
    Ok(())
}

fn check_token(name: &str, token: &str) -> Result<(), NameError> {
    let invalid = |why| {
        Err(NameError::Invalid {
            name: name.to_string(),
            why,
        })
    };
    if token.is_empty() {
        return invalid("empty");
    }
    if token.starts_with(|c: char| c.is_ascii_digit()) {
        return invalid("a token starts with a digit");
    }
    if !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return invalid("only letters, digits, '_' and '/' are allowed");
    }
    if token.contains("__") {
        return invalid("repeated '_'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remap(from: &str, to: &str) -> Remap {
        Remap {
            node: None,
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn expands_relative_absolute_private() {
        let n = NodeIdentity::new("/robot1", "arbiter").unwrap();
        assert_eq!(n.expand("cmd").unwrap(), "/robot1/cmd");
        assert_eq!(n.expand("/cmd").unwrap(), "/cmd");
        assert_eq!(n.expand("~/state").unwrap(), "/robot1/arbiter/state");
        let root = NodeIdentity::new("/", "arbiter").unwrap();
        assert_eq!(root.expand("cmd").unwrap(), "/cmd");
        assert_eq!(root.fully_qualified(), "/arbiter");
    }

    #[test]
    fn remaps_by_resolved_name() {
        let n = NodeIdentity::new("/ns", "enc").unwrap();
        let rules = [
            remap("image", "/camera/color/image_raw"),
            remap("/joint_states", "js"),
        ];
        assert_eq!(
            n.resolve("/ns/image", &rules).unwrap(),
            "/camera/color/image_raw"
        );
        assert_eq!(n.resolve("/joint_states", &rules).unwrap(), "/ns/js");
        assert_eq!(n.resolve("other", &rules).unwrap(), "/ns/other");
        let only_other = [Remap {
            node: Some("x".into()),
            from: "image".into(),
            to: "/i".into(),
        }];
        assert_eq!(n.resolve("image", &only_other).unwrap(), "/ns/image");
    }

    #[test]
    fn rejects_bad_names() {
        let n = NodeIdentity::new("/", "a").unwrap();
        assert!(n.expand("a//b").is_err());
        assert!(n.expand("9lives").is_err());
        assert!(n.expand("a-b").is_err());
        assert!(NodeIdentity::new("/", "bad name").is_err());
        assert_eq!(NodeIdentity::new("ns/", "a").unwrap().namespace, "/ns");
    }
}
