//! Unit tests of the build script's .msg/.srv parser and code generator (the same files,
//! included by path).

#[allow(dead_code)]
#[path = "../build/parser.rs"]
mod parser;

#[allow(dead_code)]
#[path = "../build/codegen.rs"]
mod codegen;

use parser::{Array, BaseType, FieldType, Primitive, TypeRef, Value, parse_message, parse_service};

fn msg(text: &str) -> parser::MessageSpec {
    parse_message("test_msgs", "Test", text, "Test.msg").unwrap_or_else(|e| panic!("{e}"))
}

fn msg_err(text: &str) -> parser::ParseError {
    parse_message("test_msgs", "Test", text, "Test.msg").expect_err("should not parse")
}

fn prim(p: Primitive, array: Array) -> FieldType {
    FieldType {
        base: BaseType::Primitive(p),
        array,
    }
}

#[test]
fn fields_arrays_and_comments() {
    let m = msg("# file comment\n\
         \n\
         int32 a   # trailing comment\n\
         \tfloat64[] b\n\
         uint8[4] c\n\
         float32[<=3] d\n\
         string<=10 e\n\
         string<=5[<=2] f\n\
         wstring g\n\
         byte h\n\
         char i\n\
         bool[] j\n\
           # indented comment\n");
    let got: Vec<(&str, &FieldType)> = m.fields.iter().map(|f| (f.name.as_str(), &f.ty)).collect();
    assert_eq!(
        got,
        vec![
            ("a", &prim(Primitive::Int32, Array::No)),
            ("b", &prim(Primitive::Float64, Array::Unbounded)),
            ("c", &prim(Primitive::UInt8, Array::Fixed(4))),
            ("d", &prim(Primitive::Float32, Array::Bounded(3))),
            (
                "e",
                &FieldType {
                    base: BaseType::String { bound: Some(10) },
                    array: Array::No
                }
            ),
            (
                "f",
                &FieldType {
                    base: BaseType::String { bound: Some(5) },
                    array: Array::Bounded(2)
                }
            ),
            (
                "g",
                &FieldType {
                    base: BaseType::WString { bound: None },
                    array: Array::No
                }
            ),
            ("h", &prim(Primitive::Byte, Array::No)),
            ("i", &prim(Primitive::Char, Array::No)),
            ("j", &prim(Primitive::Bool, Array::Unbounded)),
        ]
    );
    assert_eq!(m.fields[0].line, 3);
    assert_eq!(m.fields[1].line, 4);
    assert!(m.constants.is_empty());
    assert!(m.text.starts_with("# file comment"));
}

#[test]
fn message_types_and_header() {
    let m =
        msg("Header header\nstd_msgs/Header h2\nOther[] others\npkg_b/Thing[3] things\ntime t\n");
    let refs: Vec<&TypeRef> = m
        .fields
        .iter()
        .map(|f| match &f.ty.base {
            BaseType::Message(r) => r,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        (
            refs[0].package.as_str(),
            refs[0].name.as_str(),
            refs[0].explicit_package
        ),
        ("test_msgs", "Header", false)
    );
    assert_eq!(
        (refs[1].package.as_str(), refs[1].explicit_package),
        ("std_msgs", true)
    );
    assert_eq!(
        (refs[2].package.as_str(), refs[2].name.as_str()),
        ("test_msgs", "Other")
    );
    assert_eq!(m.fields[2].ty.array, Array::Unbounded);
    assert_eq!(m.fields[3].ty.array, Array::Fixed(3));
    assert_eq!(
        (refs[4].package.as_str(), refs[4].name.as_str()),
        ("builtin_interfaces", "Time")
    );
}

#[test]
fn constants_including_strings() {
    let m = msg("uint8 FORWARD = 0\n\
         int8 NEG=-128\n\
         uint64 BIG = 18446744073709551615\n\
         int32 HEX = 0x1F\n\
         float64 GAIN = 2.5e3\n\
         float32 TINY=1e-3\n\
         bool FLAG = True\n\
         string NAME = \"hello world\"\n\
         string SINGLE='it\\'s'\n\
         string BARE = plain text   # comment\n\
         int32 value\n");
    let got: Vec<(&str, &Value)> = m
        .constants
        .iter()
        .map(|c| (c.name.as_str(), &c.value))
        .collect();
    assert_eq!(got[0], ("FORWARD", &Value::Int(0)));
    assert_eq!(got[1], ("NEG", &Value::Int(-128)));
    assert_eq!(got[2], ("BIG", &Value::Int(u64::MAX as i128)));
    assert_eq!(got[3], ("HEX", &Value::Int(31)));
    assert_eq!(got[4], ("GAIN", &Value::Float(2500.0)));
    assert_eq!(got[5], ("TINY", &Value::Float(1e-3)));
    assert_eq!(got[6], ("FLAG", &Value::Bool(true)));
    assert_eq!(got[7], ("NAME", &Value::String("hello world".into())));
    assert_eq!(got[8], ("SINGLE", &Value::String("it's".into())));
    assert_eq!(got[9], ("BARE", &Value::String("plain text".into())));
    assert_eq!(m.fields.len(), 1);
}

#[test]
fn default_values() {
    let m = msg("int32 a 5\n\
         string s \"with space\"\n\
         float64[3] v [1.0, 2, -3.5]\n\
         string[] names ['a', \"b,c\", d]\n\
         bool[<=2] flags [true, false]\n\
         uint8[] empty []\n");
    let d: Vec<&Option<Value>> = m.fields.iter().map(|f| &f.default).collect();
    assert_eq!(d[0], &Some(Value::Int(5)));
    assert_eq!(d[1], &Some(Value::String("with space".into())));
    assert_eq!(
        d[2],
        &Some(Value::Array(vec![
            Value::Float(1.0),
            Value::Float(2.0),
            Value::Float(-3.5)
        ]))
    );
    assert_eq!(
        d[3],
        &Some(Value::Array(vec![
            Value::String("a".into()),
            Value::String("b,c".into()),
            Value::String("d".into())
        ]))
    );
    assert_eq!(
        d[4],
        &Some(Value::Array(vec![Value::Bool(true), Value::Bool(false)]))
    );
    assert_eq!(d[5], &Some(Value::Array(vec![])));
}

#[test]
fn errors_name_file_and_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("int32 a\nint32\n", 2, "field name is missing"),
        ("int32 a\n\nint33 b\n", 3, "unknown type 'int33'"),
        ("float64[0] a\n", 1, "integer > 0"),
        ("float64[x] a\n", 1, "integer > 0"),
        ("float64[<=] a\n", 1, "integer > 0"),
        ("string<=0 a\n", 1, "integer > 0"),
        ("int32 BadName\n", 1, "not a valid field name"),
        ("int32 a__b\n", 1, "not a valid field name"),
        ("int32 a\nint32 a\n", 2, "defined twice"),
        ("uint8 X = 256\n", 1, "out of the range of uint8"),
        ("int8 X = -129\n", 1, "out of the range of int8"),
        ("bool X = yes\n", 1, "not a bool"),
        ("float32 X = abc\n", 1, "not a float32"),
        ("float32 X = 1e40\n", 1, "out of the range of float32"),
        ("uint8[] X = 1\n", 1, "primitive type"),
        ("Foo X = 1\n", 1, "primitive type"),
        ("string<=3 X = abc\n", 1, "primitive type"),
        ("uint8 lower = 1\n", 1, "not a valid constant name"),
        ("uint8 A = 1\nuint8 A = 2\n", 2, "defined twice"),
        ("int32 a x\n", 1, "not an integer"),
        ("float64[2] v [1.0]\n", 1, "exactly 2 elements"),
        ("float64[<=1] v [1.0, 2.0]\n", 1, "at most 1 elements"),
        ("std_msgs/Header h 5\n", 1, "only allowed for primitive"),
        ("string<=2 s abc\n", 1, "longer than its bound"),
        ("Bad-Pkg/Thing t\n", 1, "not a valid package name"),
        ("pkg/lowercase t\n", 1, "not a valid message name"),
        ("a/b/C t\n", 1, "is not a type"),
        ("int32] x\n", 1, "has no '['"),
    ];
    for (text, line, needle) in cases {
        let e = msg_err(text);
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(
            e.message.contains(needle),
            "{text:?}: '{e}' should mention '{needle}'"
        );
        assert_eq!(e.file, "Test.msg");
        assert!(
            e.to_string().starts_with(&format!("Test.msg:{line}: ")),
            "{e}"
        );
    }
}

#[test]
fn services() {
    let s = parse_service(
        "test_msgs",
        "DoIt",
        "# comment\nint32 a\n---\n# reply\nbool ok\nstring message\n",
        "DoIt.srv",
    )
    .unwrap();
    assert_eq!(s.request.name, "DoIt_Request");
    assert_eq!(s.response.name, "DoIt_Response");
    assert_eq!(s.request.fields.len(), 1);
    assert_eq!(s.response.fields[1].name, "message");
    assert_eq!(
        s.response.fields[0].line, 5,
        "response lines count from the file's start"
    );
    assert_eq!(s.request.text, "# comment\nint32 a\n");

    let empty = parse_service("test_msgs", "Nothing", "---\n", "Nothing.srv").unwrap();
    assert!(empty.request.fields.is_empty() && empty.response.fields.is_empty());

    let e = parse_service("test_msgs", "Bad", "int32 a\n", "Bad.srv").unwrap_err();
    assert!(e.message.contains("'---'"), "{e}");
    let e =
        parse_service("test_msgs", "Bad", "int32 a\n---\nbool b\n---\n", "Bad.srv").unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    let e = parse_service(
        "test_msgs",
        "Bad",
        "int32 a\n---\nbool b\nfloat65 c\n",
        "Bad.srv",
    )
    .unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("Bad.srv", 4), "{e}");
    let e = parse_service("test_msgs", "bad", "---\n", "bad.srv").unwrap_err();
    assert!(e.message.contains("not a valid message name"), "{e}");
}

fn package(name: &str, messages: &[(&str, &str)], services: &[(&str, &str)]) -> codegen::Package {
    codegen::Package {
        name: name.into(),
        msg_module: name.into(),
        srv_module: name.into(),
        messages: messages
            .iter()
            .map(|(n, t)| parse_message(name, n, t, &format!("{n}.msg")).unwrap())
            .collect(),
        services: services
            .iter()
            .map(|(n, t)| parse_service(name, n, t, &format!("{n}.srv")).unwrap())
            .collect(),
    }
}

#[test]
fn codegen_resolves_header_and_reports_unknown_types() {
    let std = package(
        "std_msgs",
        &[("Header", "string frame_id\n"), ("Empty", "")],
        &[],
    );
    let own = package(
        "my_msgs",
        &[
            (
                "A",
                "Header header\nB b\nuint8[] data\nfloat64[40] big\nint32 type\n",
            ),
            ("B", "int32 x 7\nuint8 K = 3\nstring S = \"s\"\n"),
        ],
        &[("Do", "A a\n---\nbool ok\n")],
    );
    let code = codegen::generate(&[std.clone(), own.clone()]).unwrap();
    assert!(
        code.contains("pub header: crate::std_msgs::Header,"),
        "{code}"
    );
    assert!(code.contains("pub b: crate::my_msgs::B,"));
    assert!(code.contains("#[serde(with = \"serde_bytes\")]"));
    assert!(code.contains("#[serde(with = \"crate::big_array\")]"));
    assert!(code.contains("pub r#type: i32,"));
    assert!(code.contains("pub structure_needs_at_least_one_member: u8,"));
    assert!(code.contains("pub const K: u8 = 3;"));
    assert!(code.contains("pub const S: &str = \"s\";"));
    assert!(
        code.contains("x: 7,"),
        "default value in a manual Default impl"
    );
    assert!(code.contains("pub struct DoRequest"));
    assert!(code.contains("type Response = DoResponse;"));
    assert!(code.contains("\"my_msgs/srv/Do_Request\","));
    assert!(code.contains("MSG: std_msgs/Header"));

    let broken = package("my_msgs", &[("A", "int32 a\nMissing m\n")], &[]);
    let e = codegen::generate(&[std.clone(), broken]).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("A.msg", 2), "{e}");
    assert!(
        e.message.contains("unknown message type 'my_msgs/Missing'"),
        "{e}"
    );

    // An explicit package is never redirected.
    let explicit = package("my_msgs", &[("A", "my_msgs/Header h\n")], &[]);
    let e = codegen::generate(&[std.clone(), explicit]).unwrap_err();
    assert!(e.message.contains("did you mean std_msgs/Header"), "{e}");

    let cyclic = package("my_msgs", &[("A", "B b\n"), ("B", "A[] a\n")], &[]);
    let e = codegen::generate(&[std, cyclic]).unwrap_err();
    assert!(e.message.contains("contain themselves"), "{e}");
}
