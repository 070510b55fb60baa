//! The `paperscout` binary as users run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod digest;
mod eval;
mod flags;
mod harvest;
mod papers;
mod replicas;
mod serve;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// `paperscout` with its own data dir, the shared model cache, and no inherited settings.
fn paperscout(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paperscout"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PAPERSCOUT_") && k != "PAPERSCOUT_MODEL" {
            cmd.env_remove(&k);
        }
    }
    cmd.env("PAPERSCOUT_DATA_DIR", data_dir)
        .env("PAPERSCOUT_CACHE_DIR", paperscout_testkit::cache_dir());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("paperscout runs")
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(cmd: &mut Command, code: i32) -> String {
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}
