//! Where the workspace is: the directory of `Cargo.toml`, `scripts/` and `target/`.

use std::path::{Path, PathBuf};

/// The workspace root (where `Cargo.toml`, `scripts/` and `target/` normally are).
pub fn workspace_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests-integration sits inside the workspace")
            .to_path_buf()
    })
}
