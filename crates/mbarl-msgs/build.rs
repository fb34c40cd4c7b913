//! Generates `$OUT_DIR/generated.rs` from the ROS 2 interface files:
//! - `interfaces/<package>/{msg,srv}/*`: the standard ROS 2 types mbarl uses (copied verbatim
//!   from ROS 2 Jazzy), one Rust module per package;
//! - `../../msg/{msg,srv}/*`: the project's own package (`mbarl_msgs`), as modules `msg` and `srv`.
//!
//! A file that does not parse fails the build with `file:line: message`.

#[path = "build/codegen.rs"]
mod codegen;
#[path = "build/parser.rs"]
mod parser;

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let interfaces = manifest.join("interfaces");
    let own = manifest.join("../../msg");
    for path in [
        manifest.join("build.rs"),
        manifest.join("build/parser.rs"),
        manifest.join("build/codegen.rs"),
        interfaces.clone(),
        own.join("msg"),
        own.join("srv"),
        own.join("package.xml"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    match run(&interfaces, &own) {
        Ok(code) => {
            let out =
                PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("generated.rs");
            fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "error: mbarl-msgs: {} error(s) in ROS 2 interface files, see above",
                errors.len()
            );
            std::process::exit(1);
        }
    }
}

fn run(interfaces: &Path, own: &Path) -> Result<String, Vec<parser::ParseError>> {
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    let mut dirs = list(interfaces).map_err(|e| vec![e])?;
    dirs.retain(|d| d.is_dir());
    for dir in dirs {
        let name = file_name(&dir);
        packages.push(load_package(&dir, &name, &name, &name, &mut errors));
    }
    let own_name = own_package_name(own).map_err(|e| vec![e])?;
    packages.push(load_package(own, &own_name, "msg", "srv", &mut errors));
    if !errors.is_empty() {
        return Err(errors);
    }
    codegen::generate(&packages).map_err(|e| vec![e])
}

fn load_package(
    dir: &Path,
    name: &str,
    msg_module: &str,
    srv_module: &str,
    errors: &mut Vec<parser::ParseError>,
) -> codegen::Package {
    let mut pkg = codegen::Package {
        name: name.to_string(),
        msg_module: msg_module.to_string(),
        srv_module: srv_module.to_string(),
        messages: Vec::new(),
        services: Vec::new(),
    };
    for (sub, ext) in [("msg", "msg"), ("srv", "srv")] {
        let files = match list(&dir.join(sub)) {
            Ok(f) => f,
            Err(_) if !dir.join(sub).exists() => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for file in files {
            if file.extension().and_then(|e| e.to_str()) != Some(ext) {
                continue;
            }
            let shown = display(&file);
            let text = match fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(error(&shown, format!("cannot read: {e}")));
                    continue;
                }
            };
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let parsed = if ext == "msg" {
                parser::parse_message(name, stem, &text, &shown).map(|m| pkg.messages.push(m))
            } else {
                parser::parse_service(name, stem, &text, &shown).map(|s| pkg.services.push(s))
            };
            if let Err(e) = parsed {
                errors.push(e);
            }
        }
    }
    pkg
}

/// The `<name>` of the package.xml in `dir`.
fn own_package_name(dir: &Path) -> Result<String, parser::ParseError> {
    let file = dir.join("package.xml");
    let shown = display(&file);
    let xml = fs::read_to_string(&file).map_err(|e| error(&shown, format!("cannot read: {e}")))?;
    let start = xml.find("<name>").map(|i| i + "<name>".len());
    let end = xml.find("</name>");
    match (start, end) {
        (Some(s), Some(e)) if s < e => Ok(xml[s..e].trim().to_string()),
        _ => Err(error(&shown, "no <name>...</name> element".into())),
    }
}

/// The entries of a directory, sorted, so that the output does not depend on the file system.
fn list(dir: &Path) -> Result<Vec<PathBuf>, parser::ParseError> {
    let read = fs::read_dir(dir).map_err(|e| error(&display(dir), format!("cannot list: {e}")))?;
    let mut out: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

fn display(p: &Path) -> String {
    p.canonicalize()
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn error(file: &str, message: String) -> parser::ParseError {
    parser::ParseError {
        file: file.to_string(),
        line: 0,
        message,
    }
}
