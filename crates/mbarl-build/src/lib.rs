//! Build-script helpers shared by the crates that link libtorch (through tch).

use std::path::PathBuf;

/// Embeds an rpath to libtorch's `lib/` directory in every binary of the calling package
/// (binaries, tests, examples), so they run without `LD_LIBRARY_PATH` (ARCHITECTURE.md §6).
///
/// torch-sys finds libtorch through `LIBTORCH` (or `LIBTORCH_LIB`); this reads the same
/// variables. `cargo:rustc-link-arg` applies only to the package whose build script prints it,
/// so every package with binaries that link tch calls this from its own `build.rs`.
pub fn embed_libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");
    let lib = match (std::env::var("LIBTORCH_LIB"), std::env::var("LIBTORCH")) {
        (Ok(lib), _) => Some(PathBuf::from(lib).join("lib")),
        (_, Ok(root)) => Some(PathBuf::from(root).join("lib")),
        _ => None,
    };
    match lib {
        Some(dir) => println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display()),
        None => println!(
            "cargo:warning=LIBTORCH is not set: binaries need LD_LIBRARY_PATH to find libtorch"
        ),
    }
}
