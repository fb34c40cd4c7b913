//! Embeds the libtorch rpath in this package's binaries (see `mbarl_build`).
fn main() {
    mbarl_build::embed_libtorch_rpath();
}
