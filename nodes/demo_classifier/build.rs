//! Embeds an rpath to libtorch's `lib/` directory in every binary of this package (tests,
//! examples), so they run without `LD_LIBRARY_PATH` (ARCHITECTURE.md §6).
//!
//! torch-sys finds libtorch through `LIBTORCH`; we read the same variable. Binaries of other
//! packages that link this crate need the same two lines in their own build script.
use std::path::PathBuf;

fn main() {
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
