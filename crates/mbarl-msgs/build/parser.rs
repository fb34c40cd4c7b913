//! A small parser for ROS 2 `.msg` and `.srv` interface files.
//!
//! It follows the rules of the official parser (`rosidl_adapter.parser`):
//! - `#` starts a comment anywhere on a line (also inside string values, as in ROS 2);
//! - a line is `TYPE NAME`, `TYPE NAME DEFAULT` (a field) or `TYPE NAME=VALUE` (a constant);
//! - types are primitives (`bool byte char int8..uint64 float32 float64 string wstring`),
//!   bounded strings (`string<=N`), message types (`Name` in the same package or `pkg/Name`),
//!   each optionally an array: `T[]`, `T[N]` or `T[<=N]`;
//! - a `.srv` file is a request and a response message separated by a line `---`.
//!
//! On top of that, as in ROS 1 and most tools, a bare `Header` means `std_msgs/Header` when
//! the package has no `Header` of its own; that rule needs the set of known types, so it lives
//! in the code generator ([`TypeRef::explicit_package`] tells whether a package was written).
//!
//! The module has no dependencies, so the build script and the tests include it by path.

use std::fmt;

/// An error with the 1-based line it was found on (0: the file as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// The primitive types of ROS 2 interface files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    Bool,
    Byte,
    Char,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
}

impl Primitive {
    pub fn from_name(name: &str) -> Option<Primitive> {
        Some(match name {
            "bool" => Primitive::Bool,
            "byte" => Primitive::Byte,
            "char" => Primitive::Char,
            "int8" => Primitive::Int8,
            "uint8" => Primitive::UInt8,
            "int16" => Primitive::Int16,
            "uint16" => Primitive::UInt16,
            "int32" => Primitive::Int32,
            "uint32" => Primitive::UInt32,
            "int64" => Primitive::Int64,
            "uint64" => Primitive::UInt64,
            "float32" => Primitive::Float32,
            "float64" => Primitive::Float64,
            _ => return None,
        })
    }

    /// The name as written in interface files.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Bool => "bool",
            Primitive::Byte => "byte",
            Primitive::Char => "char",
            Primitive::Int8 => "int8",
            Primitive::UInt8 => "uint8",
            Primitive::Int16 => "int16",
            Primitive::UInt16 => "uint16",
            Primitive::Int32 => "int32",
            Primitive::UInt32 => "uint32",
            Primitive::Int64 => "int64",
            Primitive::UInt64 => "uint64",
            Primitive::Float32 => "float32",
            Primitive::Float64 => "float64",
        }
    }

    /// The inclusive range of an integer type (`byte` and `char` are octets, 0..=255).
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Primitive::Byte | Primitive::Char | Primitive::UInt8 => (0, u8::MAX as i128),
            Primitive::Int8 => (i8::MIN as i128, i8::MAX as i128),
            Primitive::Int16 => (i16::MIN as i128, i16::MAX as i128),
            Primitive::UInt16 => (0, u16::MAX as i128),
            Primitive::Int32 => (i32::MIN as i128, i32::MAX as i128),
            Primitive::UInt32 => (0, u32::MAX as i128),
            Primitive::Int64 => (i64::MIN as i128, i64::MAX as i128),
            Primitive::UInt64 => (0, u64::MAX as i128),
            Primitive::Bool | Primitive::Float32 | Primitive::Float64 => return None,
        })
    }
}

/// A message type named in a field: `pkg/Name`, or `Name` resolved in the file's package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRef {
    pub package: String,
    pub name: String,
    /// Whether the package was written (`std_msgs/Header`) or taken from context (`Header`).
    pub explicit_package: bool,
}

/// The element type of a field, without the array part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseType {
    Primitive(Primitive),
    /// `string` or `string<=N`.
    String {
        bound: Option<usize>,
    },
    /// `wstring` or `wstring<=N`.
    WString {
        bound: Option<usize>,
    },
    Message(TypeRef),
}

/// The array part of a field type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Array {
    /// Not an array.
    No,
    /// `T[]`
    Unbounded,
    /// `T[<=N]`
    Bounded(usize),
    /// `T[N]`
    Fixed(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldType {
    pub base: BaseType,
    pub array: Array,
}

/// A parsed constant or default value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i128),
    Float(f64),
    String(String),
    Array(Vec<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub ty: FieldType,
    pub name: String,
    pub default: Option<Value>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    pub ty: FieldType,
    pub name: String,
    pub value: Value,
    pub line: usize,
}

/// One message: a `.msg` file, or the request or response part of a `.srv` file.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSpec {
    pub package: String,
    /// `Name`, or `Name_Request` / `Name_Response` for service parts.
    pub name: String,
    pub fields: Vec<Field>,
    pub constants: Vec<Constant>,
    /// The source text exactly as in the file (for services: the part's lines).
    pub text: String,
    /// The file it came from, for error messages.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub package: String,
    pub name: String,
    pub request: MessageSpec,
    pub response: MessageSpec,
}

/// Parses the text of `<package>/msg/<name>.msg`; `file` names it in errors.
pub fn parse_message(
    package: &str,
    name: &str,
    text: &str,
    file: &str,
) -> Result<MessageSpec, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        message,
    };
    check_package_name(package).map_err(|m| err(0, m))?;
    check_message_name(name).map_err(|m| err(0, format!("file name: {m}")))?;
    parse_message_lines(package, name, text, 0, file)
}

/// Parses the text of `<package>/srv/<name>.srv`; `file` names it in errors.
pub fn parse_service(
    package: &str,
    name: &str,
    text: &str,
    file: &str,
) -> Result<ServiceSpec, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        message,
    };
    check_package_name(package).map_err(|m| err(0, m))?;
    check_message_name(name).map_err(|m| err(0, format!("file name: {m}")))?;
    let lines: Vec<&str> = text.lines().collect();
    // As in rosidl_adapter, the separator is a line that is exactly "---".
    let separators: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == "---").collect();
    let sep = match separators.as_slice() {
        [] => return Err(err(0, "no line '---' between request and response".into())),
        [one] => *one,
        [_, second, ..] => {
            return Err(err(
                second + 1,
                "a second '---' line: a service has exactly one, between request and response"
                    .into(),
            ));
        }
    };
    let request_text = join_lines(&lines[..sep]);
    let response_text = join_lines(&lines[sep + 1..]);
    let request = parse_message_lines(package, &format!("{name}_Request"), &request_text, 0, file)?;
    let response = parse_message_lines(
        package,
        &format!("{name}_Response"),
        &response_text,
        sep + 1,
        file,
    )?;
    Ok(ServiceSpec {
        package: package.to_string(),
        name: name.to_string(),
        request,
        response,
    })
}

fn join_lines(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

/// Parses message lines; `line_offset` is added to line numbers (for service responses).
fn parse_message_lines(
    package: &str,
    name: &str,
    text: &str,
    line_offset: usize,
    file: &str,
) -> Result<MessageSpec, ParseError> {
    let mut fields: Vec<Field> = Vec::new();
    let mut constants: Vec<Constant> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1 + line_offset;
        let err = |message: String| ParseError {
            file: file.to_string(),
            line: line_no,
            message,
        };
        let line = raw.replace('\t', " ");
        let line = match line.find('#') {
            Some(i) => &line[..i],
            None => &line[..],
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (type_str, rest) = match line.split_once(' ') {
            Some((t, r)) => (t, r.trim()),
            None => {
                return Err(err(format!(
                    "'{line}': expected 'TYPE NAME' (a field name is missing)"
                )));
            }
        };
        let ty = parse_type(type_str, package).map_err(&err)?;
        if let Some((cname, value)) = rest.split_once('=') {
            let cname = cname.trim();
            let value = value.trim();
            check_constant_name(cname).map_err(&err)?;
            let primitive_scalar = ty.array == Array::No
                && matches!(
                    ty.base,
                    BaseType::Primitive(_)
                        | BaseType::String { bound: None }
                        | BaseType::WString { bound: None }
                );
            if !primitive_scalar {
                return Err(err(format!(
                    "constant {cname}: type '{type_str}' is not allowed, constants must have a primitive type (bool, integers, floats, string)"
                )));
            }
            let value = parse_scalar_value(&ty.base, value)
                .map_err(|m| err(format!("constant {cname}: {m}")))?;
            if constants.iter().any(|c| c.name == cname) {
                return Err(err(format!("constant {cname} is defined twice")));
            }
            constants.push(Constant {
                ty,
                name: cname.to_string(),
                value,
                line: line_no,
            });
        } else {
            let (fname, default) = match rest.split_once(' ') {
                Some((n, d)) => (n, Some(d.trim())),
                None => (rest, None),
            };
            check_field_name(fname).map_err(&err)?;
            let default = match default {
                None => None,
                Some(d) => Some(
                    parse_default(&ty, d).map_err(|m| err(format!("default of {fname}: {m}")))?,
                ),
            };
            if fields.iter().any(|f| f.name == fname) {
                return Err(err(format!("field {fname} is defined twice")));
            }
            fields.push(Field {
                ty,
                name: fname.to_string(),
                default,
                line: line_no,
            });
        }
    }
    Ok(MessageSpec {
        package: package.to_string(),
        name: name.to_string(),
        fields,
        constants,
        text: text.to_string(),
        file: file.to_string(),
    })
}

/// Parses a type such as `float64[<=3]`, `string<=10`, `Header` or `std_msgs/Header[2]`.
pub fn parse_type(type_str: &str, package: &str) -> Result<FieldType, String> {
    let (base_str, array) = match type_str.strip_suffix(']') {
        None => (type_str, Array::No),
        Some(inner) => {
            let open = inner
                .rfind('[')
                .ok_or_else(|| format!("type '{type_str}' ends with ']' but has no '['"))?;
            let size = &inner[open + 1..];
            let array =
                if size.is_empty() {
                    Array::Unbounded
                } else if let Some(bound) = size.strip_prefix("<=") {
                    Array::Bounded(parse_size(bound).ok_or_else(|| {
                        format!("array bound in '{type_str}' must be an integer > 0")
                    })?)
                } else {
                    Array::Fixed(parse_size(size).ok_or_else(|| {
                    format!(
                        "array size in '{type_str}' must be an integer > 0 (or '<=N' for a bound)"
                    )
                })?)
                };
            (&inner[..open], array)
        }
    };
    let base = parse_base_type(base_str, package)?;
    Ok(FieldType { base, array })
}

fn parse_size(s: &str) -> Option<usize> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<usize>().ok().filter(|&n| n > 0)
}

fn parse_base_type(s: &str, package: &str) -> Result<BaseType, String> {
    if let Some(p) = Primitive::from_name(s) {
        return Ok(BaseType::Primitive(p));
    }
    for (prefix, wide) in [("string", false), ("wstring", true)] {
        let bound = if s == prefix {
            Some(None)
        } else if let Some(b) = s.strip_prefix(prefix).and_then(|r| r.strip_prefix("<=")) {
            Some(Some(parse_size(b).ok_or_else(|| {
                format!("the bound of '{s}' must be an integer > 0")
            })?))
        } else {
            None
        };
        if let Some(bound) = bound {
            return Ok(if wide {
                BaseType::WString { bound }
            } else {
                BaseType::String { bound }
            });
        }
    }
    // ROS 1 compatibility types, accepted by rosidl_adapter.
    match s {
        "time" | "duration" => {
            return Ok(BaseType::Message(TypeRef {
                package: "builtin_interfaces".into(),
                name: if s == "time" { "Time" } else { "Duration" }.into(),
                explicit_package: true,
            }));
        }
        _ => {}
    }
    let parts: Vec<&str> = s.split('/').collect();
    let (pkg, name, explicit) = match parts.as_slice() {
        [name] => (package, *name, false),
        [pkg, name] => (*pkg, *name, true),
        _ => {
            return Err(format!(
                "'{s}' is not a type (expected a primitive, 'Name' or 'package/Name')"
            ));
        }
    };
    if !explicit && !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Err(format!(
            "unknown type '{s}': not a primitive type (bool byte char int8..int64 uint8..uint64 float32 float64 string wstring) and not a message name"
        ));
    }
    check_package_name(pkg)?;
    check_message_name(name)?;
    Ok(BaseType::Message(TypeRef {
        package: pkg.to_string(),
        name: name.to_string(),
        explicit_package: explicit,
    }))
}

/// `^[a-z][a-z0-9_]*$` without `__` and without a trailing `_` (packages and fields).
fn is_lower_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !s.contains("__")
        && !s.ends_with('_')
}

fn check_package_name(s: &str) -> Result<(), String> {
    if is_lower_name(s) {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not a valid package name (lower case letters, digits and single underscores, starting with a letter)"
        ))
    }
}

fn check_field_name(s: &str) -> Result<(), String> {
    if is_lower_name(s) {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not a valid field name (lower case letters, digits and single underscores, starting with a letter, not ending with '_')"
        ))
    }
}

/// `^[A-Z][A-Za-z0-9]*$`
fn check_message_name(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not a valid message name (CamelCase letters and digits, starting with an upper case letter)"
        ))
    }
}

/// `^[A-Z]([A-Z0-9_]?[A-Z0-9]+)*$`: upper case, digits, single underscores between them.
fn check_constant_name(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
        && !s.contains("__")
        && !s.ends_with('_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not a valid constant name (upper case letters, digits and single underscores, starting with a letter)"
        ))
    }
}

fn parse_default(ty: &FieldType, s: &str) -> Result<Value, String> {
    if ty.array == Array::No {
        if let BaseType::Message(_) = ty.base {
            return Err("default values are only allowed for primitive types and strings".into());
        }
        return parse_scalar_value(&ty.base, s);
    }
    if let BaseType::Message(_) = ty.base {
        return Err("default values are only allowed for arrays of primitive types".into());
    }
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("array value '{s}' must start with '[' and end with ']'"))?;
    let items = match ty.base {
        BaseType::String { .. } | BaseType::WString { .. } => split_string_array(inner)?,
        _ if inner.trim().is_empty() => Vec::new(),
        _ => inner.split(',').map(|e| e.trim().to_string()).collect(),
    };
    match ty.array {
        Array::Fixed(n) if items.len() != n => {
            return Err(format!(
                "array must have exactly {n} elements, not {}",
                items.len()
            ));
        }
        Array::Bounded(n) if items.len() > n => {
            return Err(format!(
                "array must have at most {n} elements, not {}",
                items.len()
            ));
        }
        _ => {}
    }
    let values = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            parse_scalar_value(&ty.base, item).map_err(|m| format!("element {i}: {m}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(values))
}

/// Splits `"a", 'b,c', d` into its elements, keeping quotes for [`parse_scalar_value`].
fn split_string_array(s: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if rest.starts_with(',') {
            return Err(format!("unexpected ',' in string array [{s}]"));
        }
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        let (item, after) = match quote {
            Some(q) => {
                let mut end = None;
                let mut escaped = false;
                for (i, c) in rest.char_indices().skip(1) {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == q {
                        end = Some(i);
                        break;
                    }
                }
                let end =
                    end.ok_or_else(|| format!("string array [{s}] is not quoted correctly"))?;
                (&rest[..=end], &rest[end + 1..])
            }
            None => match rest.find(',') {
                Some(i) => (rest[..i].trim_end(), &rest[i..]),
                None => (rest.trim_end(), ""),
            },
        };
        items.push(item.to_string());
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("expected ',' after {item} in string array [{s}]"));
        }
    }
    Ok(items)
}

/// Parses one value of a primitive or string type, checking its range.
pub fn parse_scalar_value(base: &BaseType, s: &str) -> Result<Value, String> {
    match base {
        BaseType::Primitive(Primitive::Bool) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("'{s}' is not a bool value (true, false, 1 or 0)")),
        },
        BaseType::Primitive(p @ (Primitive::Float32 | Primitive::Float64)) => {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("'{s}' is not a {} value", p.name()))?;
            if *p == Primitive::Float32 && v.is_finite() && v.abs() > f32::MAX as f64 {
                return Err(format!("'{s}' is out of the range of float32"));
            }
            Ok(Value::Float(v))
        }
        BaseType::Primitive(p) => {
            let (lo, hi) = p.int_range().expect("integer type");
            let v = parse_int(s).ok_or_else(|| format!("'{s}' is not an integer"))?;
            if v < lo || v > hi {
                return Err(format!(
                    "{v} is out of the range of {} ({lo} ..= {hi})",
                    p.name()
                ));
            }
            Ok(Value::Int(v))
        }
        BaseType::String { bound } | BaseType::WString { bound } => {
            let v = unquote(s)?;
            if let Some(b) = bound
                && v.chars().count() > *b
            {
                return Err(format!("string '{v}' is longer than its bound {b}"));
            }
            Ok(Value::String(v))
        }
        BaseType::Message(_) => Err("message types have no literal values".into()),
    }
}

/// Integers as Python's `int(s)` or `int(s, 0)` read them: decimal, `0x..`, `0o..`, `0b..`.
fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim().replace('_', "");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Removes one pair of outer quotes (`"..."` or `'...'`) and unescapes `\"` / `\'`.
fn unquote(s: &str) -> Result<String, String> {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            let inner = &s[1..s.len() - 1];
            let mut out = String::with_capacity(inner.len());
            let mut prev_backslash = false;
            for c in inner.chars() {
                if c == q && !prev_backslash {
                    return Err(format!("string {s}: inner quotes must be escaped"));
                }
                if c == q && prev_backslash {
                    out.pop();
                }
                out.push(c);
                prev_backslash = c == '\\';
            }
            return Ok(out);
        }
    }
    Ok(s.to_string())
}
