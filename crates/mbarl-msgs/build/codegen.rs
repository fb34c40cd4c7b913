//! Generates Rust types from parsed interface files (see `parser.rs`).
//!
//! Output: one module per package (or the `msg` and `srv` modules of the project's own package),
//! a serde struct per message, `RosMessage` / `RosService` impls, and crate-level tables
//! (`ALL_MESSAGE_TYPES`, `ALL_SERVICE_TYPES`, visitors, `message_definition`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::parser::{
    Array, BaseType, FieldType, MessageSpec, ParseError, Primitive, ServiceSpec, Value,
};

/// The interfaces of one ROS 2 package and the Rust modules they go to.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Module (below the crate root) for the package's messages, e.g. `std_msgs` or `msg`.
    pub msg_module: String,
    /// Module for the package's services (may equal `msg_module`).
    pub srv_module: String,
    pub messages: Vec<MessageSpec>,
    pub services: Vec<ServiceSpec>,
}

/// Fixed-size arrays up to this length work with serde's and std's built-in impls.
const SERDE_ARRAY_MAX: usize = 32;

/// The separator line of rosbag2's `ros2msg` definitions: exactly 80 `=`.
const DEFINITION_SEPARATOR: &str =
    "================================================================================";

/// One message known to the generator.
struct Entry<'a> {
    spec: &'a MessageSpec,
    /// `pkg/msg/Name` or `pkg/srv/Name_Request`.
    type_name: String,
    /// `msg` or `srv`.
    namespace: &'static str,
    /// Rust path from the crate root, e.g. `crate::std_msgs::Header`.
    rust_path: String,
    /// Rust struct name.
    rust_name: String,
    module: String,
}

/// Generates the code of `generated.rs`.
pub fn generate(packages: &[Package]) -> Result<String, ParseError> {
    let mut entries: Vec<Entry> = Vec::new();
    // (package, Name) -> index into entries, for messages that fields may name.
    let mut by_name: HashMap<(String, String), usize> = HashMap::new();
    for pkg in packages {
        for spec in &pkg.messages {
            let key = (pkg.name.clone(), spec.name.clone());
            if by_name.contains_key(&key) {
                return Err(ParseError {
                    file: spec.file.clone(),
                    line: 0,
                    message: format!("message {}/{} is defined twice", pkg.name, spec.name),
                });
            }
            by_name.insert(key, entries.len());
            entries.push(Entry {
                spec,
                type_name: format!("{}/msg/{}", pkg.name, spec.name),
                namespace: "msg",
                rust_path: format!("crate::{}::{}", pkg.msg_module, spec.name),
                rust_name: spec.name.clone(),
                module: pkg.msg_module.clone(),
            });
        }
        for srv in &pkg.services {
            for (part, suffix) in [(&srv.request, "Request"), (&srv.response, "Response")] {
                let rust_name = format!("{}{}", srv.name, suffix);
                entries.push(Entry {
                    spec: part,
                    type_name: format!("{}/srv/{}", pkg.name, part.name),
                    namespace: "srv",
                    rust_path: format!("crate::{}::{}", pkg.srv_module, rust_name),
                    rust_name,
                    module: pkg.srv_module.clone(),
                });
            }
        }
    }
    // Rust names must be unique within a module.
    let mut seen_names: HashMap<(String, String), &str> = HashMap::new();
    for e in &entries {
        if let Some(other) =
            seen_names.insert((e.module.clone(), e.rust_name.clone()), &e.type_name)
        {
            return Err(ParseError {
                file: e.spec.file.clone(),
                line: 0,
                message: format!(
                    "{} and {} would both be the Rust type {}::{}",
                    other, e.type_name, e.module, e.rust_name
                ),
            });
        }
    }

    let resolver = Resolver {
        by_name: &by_name,
        entries: &entries,
    };
    // Resolve every field once: errors name the field's line.
    let mut deps: Vec<BTreeSet<usize>> = Vec::with_capacity(entries.len());
    for e in &entries {
        let mut d = BTreeSet::new();
        for f in &e.spec.fields {
            if let BaseType::Message(_) = f.ty.base {
                d.insert(resolver.resolve(e.spec, &f.ty.base, f.line)?);
            }
        }
        deps.push(d);
    }
    check_no_cycles(&entries, &deps)?;

    let copy = copy_types(&entries, &resolver)?;
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let definition = full_definition(i, &entries, &deps);
        let code = message_code(e, &resolver, &definition, copy[i])?;
        modules.entry(e.module.clone()).or_default().push_str(&code);
    }
    for pkg in packages {
        for srv in &pkg.services {
            let code = service_code(pkg, srv);
            modules
                .entry(pkg.srv_module.clone())
                .or_default()
                .push_str(&code);
        }
    }

    let mut out = String::new();
    out.push_str("// @generated by mbarl-msgs/build.rs from .msg/.srv files. Do not edit.\n\n");
    let module_docs = module_docs(packages);
    for (module, code) in &modules {
        let doc = module_docs.get(module).cloned().unwrap_or_default();
        let _ = writeln!(out, "#[doc = {doc:?}]");
        let _ = writeln!(out, "pub mod {module} {{");
        out.push_str(code);
        out.push_str("}\n\n");
    }
    out.push_str(&tables(packages, &entries));
    Ok(out)
}

struct Resolver<'a> {
    by_name: &'a HashMap<(String, String), usize>,
    entries: &'a [Entry<'a>],
}

impl Resolver<'_> {
    /// The entry a message-typed field refers to; bare `Header` falls back to `std_msgs/Header`.
    fn resolve(
        &self,
        spec: &MessageSpec,
        base: &BaseType,
        line: usize,
    ) -> Result<usize, ParseError> {
        let BaseType::Message(r) = base else {
            unreachable!("resolve is only called for message types")
        };
        let key = (r.package.clone(), r.name.clone());
        if let Some(&i) = self.by_name.get(&key) {
            return Ok(i);
        }
        let std_header = ("std_msgs".to_string(), "Header".to_string());
        if !r.explicit_package
            && r.name == "Header"
            && let Some(&i) = self.by_name.get(&std_header)
        {
            return Ok(i);
        }
        let mut known: Vec<String> = self
            .by_name
            .keys()
            .filter(|(_, n)| *n == r.name)
            .map(|(p, n)| format!("{p}/{n}"))
            .collect();
        known.sort();
        let hint = if known.is_empty() {
            String::from(
                " (add its .msg file to crates/mbarl-msgs/interfaces/<package>/msg/ if it is a standard type)",
            )
        } else {
            format!(" (did you mean {}?)", known.join(" or "))
        };
        Err(ParseError {
            file: spec.file.clone(),
            line,
            message: format!("unknown message type '{}/{}'{}", r.package, r.name, hint),
        })
    }

    fn rust_path(
        &self,
        spec: &MessageSpec,
        base: &BaseType,
        line: usize,
    ) -> Result<String, ParseError> {
        Ok(self.entries[self.resolve(spec, base, line)?]
            .rust_path
            .clone())
    }
}

/// Which messages can derive `Copy`: no strings or sequences, also in nested messages.
/// Needs acyclic dependencies (checked before).
fn copy_types(entries: &[Entry], resolver: &Resolver) -> Result<Vec<bool>, ParseError> {
    fn is_copy(
        i: usize,
        entries: &[Entry],
        resolver: &Resolver,
        memo: &mut Vec<Option<bool>>,
    ) -> Result<bool, ParseError> {
        if let Some(known) = memo[i] {
            return Ok(known);
        }
        let spec = entries[i].spec;
        let mut copy = true;
        for f in &spec.fields {
            let element = match &f.ty.base {
                BaseType::Primitive(_) => true,
                BaseType::String { .. } | BaseType::WString { .. } => false,
                BaseType::Message(_) => is_copy(
                    resolver.resolve(spec, &f.ty.base, f.line)?,
                    entries,
                    resolver,
                    memo,
                )?,
            };
            copy &= element && matches!(f.ty.array, Array::No | Array::Fixed(_));
        }
        memo[i] = Some(copy);
        Ok(copy)
    }
    let mut memo = vec![None; entries.len()];
    (0..entries.len())
        .map(|i| is_copy(i, entries, resolver, &mut memo))
        .collect()
}

fn check_no_cycles(entries: &[Entry], deps: &[BTreeSet<usize>]) -> Result<(), ParseError> {
    // 0: not visited, 1: on the current path, 2: done.
    fn visit(
        i: usize,
        deps: &[BTreeSet<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        match state[i] {
            2 => return None,
            1 => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(i);
                return Some(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for &d in &deps[i] {
            if let Some(c) = visit(d, deps, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    let mut state = vec![0u8; entries.len()];
    for i in 0..entries.len() {
        if let Some(cycle) = visit(i, deps, &mut state, &mut Vec::new()) {
            let names: Vec<&str> = cycle
                .iter()
                .map(|&c| entries[c].type_name.as_str())
                .collect();
            return Err(ParseError {
                file: entries[cycle[0]].spec.file.clone(),
                line: 0,
                message: format!("messages contain themselves: {}", names.join(" -> ")),
            });
        }
    }
    Ok(())
}

/// The `ros2msg` text rosbag2 stores for a type: its own text, then each dependency once,
/// depth-first, dependencies of a message in sorted order (as rosbag2's
/// `LocalMessageDefinitionSource::get_full_text` writes them).
fn full_definition(root: usize, entries: &[Entry], deps: &[BTreeSet<usize>]) -> String {
    fn short_name(e: &Entry) -> String {
        format!("{}/{}", e.spec.package, e.spec.name)
    }
    fn rec(
        i: usize,
        entries: &[Entry],
        deps: &[BTreeSet<usize>],
        seen: &mut BTreeSet<usize>,
    ) -> String {
        let mut out = entries[i].spec.text.clone();
        let mut sorted: Vec<usize> = deps[i].iter().copied().collect();
        sorted.sort_by_key(|&d| short_name(&entries[d]));
        for d in sorted {
            if seen.insert(d) {
                out.push('\n');
                out.push_str(DEFINITION_SEPARATOR);
                out.push_str("\nMSG: ");
                out.push_str(&short_name(&entries[d]));
                out.push('\n');
                out.push_str(&rec(d, entries, deps, seen));
            }
        }
        out
    }
    rec(root, entries, deps, &mut BTreeSet::new())
}

fn rust_primitive(p: Primitive) -> &'static str {
    match p {
        Primitive::Bool => "bool",
        Primitive::Byte | Primitive::Char | Primitive::UInt8 => "u8",
        Primitive::Int8 => "i8",
        Primitive::Int16 => "i16",
        Primitive::UInt16 => "u16",
        Primitive::Int32 => "i32",
        Primitive::UInt32 => "u32",
        Primitive::Int64 => "i64",
        Primitive::UInt64 => "u64",
        Primitive::Float32 => "f32",
        Primitive::Float64 => "f64",
    }
}

const RUST_STRING: &str = "::std::string::String";

fn rust_element_type(
    resolver: &Resolver,
    spec: &MessageSpec,
    base: &BaseType,
    line: usize,
) -> Result<String, ParseError> {
    Ok(match base {
        BaseType::Primitive(p) => rust_primitive(*p).to_string(),
        BaseType::String { .. } | BaseType::WString { .. } => RUST_STRING.to_string(),
        BaseType::Message(_) => resolver.rust_path(spec, base, line)?,
    })
}

fn rust_type(
    resolver: &Resolver,
    spec: &MessageSpec,
    ty: &FieldType,
    line: usize,
) -> Result<String, ParseError> {
    let elem = rust_element_type(resolver, spec, &ty.base, line)?;
    Ok(match ty.array {
        Array::No => elem,
        Array::Unbounded | Array::Bounded(_) => format!("::std::vec::Vec<{elem}>"),
        Array::Fixed(n) => format!("[{elem}; {n}]"),
    })
}

fn is_octet(base: &BaseType) -> bool {
    matches!(
        base,
        BaseType::Primitive(Primitive::UInt8 | Primitive::Byte | Primitive::Char)
    )
}

const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// The Rust identifier of a field, and whether serde needs a rename to keep the ROS name.
fn rust_field_name(name: &str) -> (String, bool) {
    match name {
        // These cannot be raw identifiers.
        "self" | "super" | "crate" => (format!("{name}_"), true),
        _ if RUST_KEYWORDS.contains(&name) => (format!("r#{name}"), false),
        _ => (name.to_string(), false),
    }
}

fn float_literal(v: f64, ty: &str) -> String {
    if v.is_nan() {
        format!("{ty}::NAN")
    } else if v == f64::INFINITY {
        format!("{ty}::INFINITY")
    } else if v == f64::NEG_INFINITY {
        format!("{ty}::NEG_INFINITY")
    } else {
        let s = format!("{v:?}");
        if s.contains(['.', 'e']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}

/// A Rust expression for a value of the given element type.
fn value_expr(v: &Value, base: &BaseType, for_const: bool) -> String {
    match (v, base) {
        (Value::Bool(b), _) => b.to_string(),
        (Value::Int(i), _) => i.to_string(),
        (Value::Float(f), BaseType::Primitive(p)) => float_literal(*f, rust_primitive(*p)),
        (Value::Float(f), _) => float_literal(*f, "f64"),
        (Value::String(s), _) if for_const => format!("{s:?}"),
        (Value::String(s), _) => format!("{RUST_STRING}::from({s:?})"),
        (Value::Array(items), _) => {
            let inner: Vec<String> = items
                .iter()
                .map(|i| value_expr(i, base, for_const))
                .collect();
            inner.join(", ")
        }
    }
}

fn doc_block(text: &str) -> String {
    // A fence longer than any run of backticks in the text.
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}", text.trim_end())
}

fn message_code(
    e: &Entry,
    resolver: &Resolver,
    definition: &str,
    copy: bool,
) -> Result<String, ParseError> {
    let spec = e.spec;
    let mut out = String::new();
    let doc = format!("`{}`\n\n{}", e.type_name, doc_block(&spec.text));
    let _ = writeln!(out, "    #[doc = {doc:?}]");

    let needs_manual_default = spec.fields.iter().any(|f| {
        f.default.is_some() || matches!(f.ty.array, Array::Fixed(n) if n > SERDE_ARRAY_MAX)
    });
    let mut derives = vec!["Debug", "Clone"];
    if copy {
        derives.push("Copy");
    }
    derives.push("PartialEq");
    if !needs_manual_default {
        derives.push("Default");
    }
    derives.extend(["::serde::Serialize", "::serde::Deserialize"]);
    let _ = writeln!(out, "    #[derive({})]", derives.join(", "));
    let _ = writeln!(out, "    pub struct {} {{", e.rust_name);
    let mut defaults: Vec<(String, String)> = Vec::new();
    if spec.fields.is_empty() {
        out.push_str(
            "        /// ROS 2 serializes a message without fields as this one octet (always 0).\n",
        );
        out.push_str("        pub structure_needs_at_least_one_member: u8,\n");
    }
    for f in &spec.fields {
        let ty = rust_type(resolver, spec, &f.ty, f.line)?;
        let (ident, rename) = rust_field_name(&f.name);
        let mut attrs: Vec<String> = Vec::new();
        if rename {
            attrs.push(format!("rename = {:?}", f.name));
        }
        match f.ty.array {
            Array::Unbounded | Array::Bounded(_) if is_octet(&f.ty.base) => {
                attrs.push("with = \"serde_bytes\"".into());
            }
            Array::Fixed(n) if n > SERDE_ARRAY_MAX => {
                attrs.push("with = \"crate::big_array\"".into());
            }
            _ => {}
        }
        if !attrs.is_empty() {
            let _ = writeln!(out, "        #[serde({})]", attrs.join(", "));
        }
        let _ = writeln!(out, "        pub {ident}: {ty},");
        let default = match (&f.default, f.ty.array) {
            (Some(v), Array::No) => value_expr(v, &f.ty.base, false),
            (Some(v), Array::Fixed(_)) => format!("[{}]", value_expr(v, &f.ty.base, false)),
            (Some(v), _) => format!("::std::vec![{}]", value_expr(v, &f.ty.base, false)),
            (None, Array::Fixed(n)) if n > SERDE_ARRAY_MAX => {
                "::std::array::from_fn(|_| ::std::default::Default::default())".to_string()
            }
            (None, _) => "::std::default::Default::default()".to_string(),
        };
        defaults.push((ident, default));
    }
    out.push_str("    }\n\n");

    if needs_manual_default {
        let _ = writeln!(
            out,
            "    impl ::std::default::Default for {} {{",
            e.rust_name
        );
        out.push_str("        fn default() -> Self {\n            Self {\n");
        for (ident, expr) in &defaults {
            let _ = writeln!(out, "                {ident}: {expr},");
        }
        out.push_str("            }\n        }\n    }\n\n");
    }

    if !spec.constants.is_empty() {
        let _ = writeln!(out, "    impl {} {{", e.rust_name);
        for c in &spec.constants {
            let ty = match c.ty.base {
                BaseType::Primitive(p) => rust_primitive(p),
                _ => "&str",
            };
            let _ = writeln!(
                out,
                "        pub const {}: {} = {};",
                c.name,
                ty,
                value_expr(&c.value, &c.ty.base, true)
            );
        }
        out.push_str("    }\n\n");
    }

    let _ = writeln!(out, "    impl crate::RosMessage for {} {{", e.rust_name);
    let _ = writeln!(
        out,
        "        const PACKAGE: &'static str = {:?};",
        spec.package
    );
    if e.namespace != "msg" {
        let _ = writeln!(
            out,
            "        const NAMESPACE: &'static str = {:?};",
            e.namespace
        );
    }
    let _ = writeln!(out, "        const NAME: &'static str = {:?};", spec.name);
    let _ = writeln!(
        out,
        "        const DEFINITION: &'static str = {definition:?};"
    );
    out.push_str("    }\n\n");
    Ok(out)
}

fn service_code(pkg: &Package, srv: &ServiceSpec) -> String {
    let mut out = String::new();
    let doc = format!(
        "`{}/srv/{}`: request [`{}Request`], response [`{}Response`].",
        pkg.name, srv.name, srv.name, srv.name
    );
    let _ = writeln!(out, "    #[doc = {doc:?}]");
    out.push_str("    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]\n");
    let _ = writeln!(out, "    pub struct {};\n", srv.name);
    let _ = writeln!(out, "    impl crate::RosService for {} {{", srv.name);
    let _ = writeln!(out, "        type Request = {}Request;", srv.name);
    let _ = writeln!(out, "        type Response = {}Response;", srv.name);
    let _ = writeln!(out, "        const PACKAGE: &'static str = {:?};", pkg.name);
    let _ = writeln!(out, "        const NAME: &'static str = {:?};", srv.name);
    out.push_str("    }\n\n");
    out
}

fn module_docs(packages: &[Package]) -> HashMap<String, String> {
    let mut docs = HashMap::new();
    for pkg in packages {
        if pkg.msg_module == pkg.srv_module {
            docs.insert(
                pkg.msg_module.clone(),
                format!("Messages and services of the ROS 2 package `{}`.", pkg.name),
            );
        } else {
            docs.insert(
                pkg.msg_module.clone(),
                format!(
                    "Messages of the ROS 2 package `{}` (`{}/msg/*`).",
                    pkg.name, pkg.name
                ),
            );
            docs.insert(
                pkg.srv_module.clone(),
                format!(
                    "Services of the ROS 2 package `{}` (`{}/srv/*`).",
                    pkg.name, pkg.name
                ),
            );
        }
    }
    docs
}

fn tables(packages: &[Package], entries: &[Entry]) -> String {
    let mut out = String::new();
    let mut msgs: Vec<&Entry> = entries.iter().collect();
    msgs.sort_by(|a, b| a.type_name.cmp(&b.type_name));
    let mut srvs: Vec<(String, String)> = packages
        .iter()
        .flat_map(|p| {
            p.services.iter().map(move |s| {
                (
                    format!("{}/srv/{}", p.name, s.name),
                    format!("crate::{}::{}", p.srv_module, s.name),
                )
            })
        })
        .collect();
    srvs.sort();

    out.push_str(
        "/// The type name (`pkg/msg/Name`, or `pkg/srv/Name_Request` / `pkg/srv/Name_Response`)\n\
         /// of every generated message, sorted.\n",
    );
    out.push_str("pub const ALL_MESSAGE_TYPES: &[&str] = &[\n");
    for e in &msgs {
        let _ = writeln!(out, "    {:?},", e.type_name);
    }
    out.push_str("];\n\n");

    out.push_str("/// The type name (`pkg/srv/Name`) of every generated service, sorted.\n");
    out.push_str("pub const ALL_SERVICE_TYPES: &[&str] = &[\n");
    for (name, _) in &srvs {
        let _ = writeln!(out, "    {name:?},");
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// Calls `visitor.visit::<M>()` for every generated message type `M`, in the order of\n\
         /// [`ALL_MESSAGE_TYPES`].\n",
    );
    out.push_str("pub fn visit_all_messages<V: crate::MessageVisitor>(visitor: &mut V) {\n");
    for e in &msgs {
        let _ = writeln!(out, "    visitor.visit::<{}>();", e.rust_path);
    }
    out.push_str("}\n\n");

    out.push_str(
        "/// Calls `visitor.visit::<S>()` for every generated service type `S`, in the order of\n\
         /// [`ALL_SERVICE_TYPES`].\n",
    );
    out.push_str("pub fn visit_all_services<V: crate::ServiceVisitor>(visitor: &mut V) {\n");
    for (_, path) in &srvs {
        let _ = writeln!(out, "    visitor.visit::<{path}>();");
    }
    out.push_str("}\n\n");

    out.push_str(
        "/// The full `ros2msg` definition (with dependencies) of a generated message type,\n\
         /// by its type name as in [`ALL_MESSAGE_TYPES`].\n",
    );
    out.push_str("pub fn message_definition(type_name: &str) -> Option<&'static str> {\n");
    out.push_str("    match type_name {\n");
    for e in &msgs {
        let _ = writeln!(
            out,
            "        {:?} => Some(<{} as crate::RosMessage>::DEFINITION),",
            e.type_name, e.rust_path
        );
    }
    out.push_str("        _ => None,\n    }\n}\n");
    out
}
