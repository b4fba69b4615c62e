//! Evaluated prompt prefixes kept on disk, so a restart does not pay for the
//! system prompt again (22 s for a long one on 2 cores).
//!
//! One file per prefix, named by a hash of the model (file name and size),
//! the context parameters that shape the KV cache, and the prefix's tokens.
//! A file holds a header, the prefix's tokens, and llama.cpp's serialised
//! state of sequence 0 with its SHA-256:
//!
//! ```text
//! magic "SBLLMST1" | key [32] | n_tokens u32 | tokens i32 × n | len u64 | sha256(data) [32] | data
//! ```
//!
//! Every field is checked before llama.cpp sees the data; a file that fails
//! (truncated, corrupted, another key) is deleted with a warning and the
//! prefix is evaluated as if there were none. Only the newest
//! [`StateCache::keep`] files are kept (a read counts as use).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use llama_cpp_2::token::LlamaToken;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"SBLLMST1";
/// Changes whenever the layout above, or what goes into the key, changes.
const FORMAT: &str = "switchboard-llm prompt state v1; llama-cpp-2 0.1.160";
const EXT: &str = "state";

/// What shapes the saved state besides the tokens: the model file and the
/// context parameters.
#[derive(Debug, Clone)]
pub(crate) struct StateIdentity {
    pub model_name: String,
    pub model_size: u64,
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
}

/// The folder of saved prefixes.
#[derive(Debug, Clone)]
pub(crate) struct StateCache {
    dir: PathBuf,
    keep: usize,
    identity: [u8; 32],
}

impl StateCache {
    pub fn new(dir: impl Into<PathBuf>, keep: usize, id: &StateIdentity) -> Self {
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        h.update([0]);
        h.update(id.model_name.as_bytes());
        h.update([0]);
        h.update(id.model_size.to_le_bytes());
        h.update(id.n_ctx.to_le_bytes());
        h.update(id.n_batch.to_le_bytes());
        h.update(id.n_ubatch.to_le_bytes());
        Self { dir: dir.into(), keep: keep.max(1), identity: h.finalize().into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(&self, prefix: &[LlamaToken]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.identity);
        h.update((prefix.len() as u64).to_le_bytes());
        for t in prefix {
            h.update(t.0.to_le_bytes());
        }
        h.finalize().into()
    }

    /// Where the state of `prefix` is (or would be) saved.
    pub fn path(&self, prefix: &[LlamaToken]) -> PathBuf {
        self.dir.join(format!("{}.{EXT}", hex(&self.key(prefix))))
    }

    /// The saved state of `prefix`, checked; `None` when there is none or it
    /// is unusable (then the file is deleted, with a warning). A hit marks
    /// the file as recently used.
    pub fn load(&self, prefix: &[LlamaToken]) -> Option<Vec<u8>> {
        let path = self.path(prefix);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read a saved prompt state; evaluating the prompt");
                return None;
            }
        };
        match decode(&bytes, &self.key(prefix), prefix) {
            Ok(range) => {
                touch(&path);
                Some(bytes[range].to_vec())
            }
            Err(why) => {
                self.discard(prefix, why);
                None
            }
        }
    }

    /// Deletes the saved state of `prefix` (unusable: `why`), with a warning.
    pub fn discard(&self, prefix: &[LlamaToken], why: &str) {
        let path = self.path(prefix);
        tracing::warn!(file = %path.display(), why, "ignoring and deleting a saved prompt state");
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), error = %e, "cannot delete a saved prompt state");
        }
    }

    /// Saves `data` (llama.cpp's state of the sequence holding exactly
    /// `prefix`), atomically, then drops the oldest files beyond the bound.
    pub fn save(&self, prefix: &[LlamaToken], data: &[u8]) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let path = self.path(prefix);
        let tmp = path.with_extension(format!("{EXT}.tmp-{}", uuid::Uuid::now_v7().simple()));
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&encode_header(&self.key(prefix), prefix, data))?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.prune();
        Ok(path)
    }

    /// Keeps the newest `keep` state files (by modification time), and
    /// drops temporary files a crash left behind.
    fn prune(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        let paths: Vec<(SystemTime, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        let stale = SystemTime::now() - std::time::Duration::from_secs(3600);
        for (modified, p) in &paths {
            let is_tmp = p.file_name().is_some_and(|n| n.to_string_lossy().contains(&format!(".{EXT}.tmp-")));
            if is_tmp && *modified < stale {
                let _ = fs::remove_file(p);
            }
        }
        let mut files: Vec<(SystemTime, PathBuf)> =
            paths.into_iter().filter(|(_, p)| p.extension().is_some_and(|x| x == EXT)).collect();
        if files.len() <= self.keep {
            return;
        }
        files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, p) in files.drain(self.keep..) {
            match fs::remove_file(&p) {
                Ok(()) => tracing::debug!(file = %p.display(), "dropped an old prompt state"),
                Err(e) => tracing::warn!(file = %p.display(), error = %e, "cannot drop an old prompt state"),
            }
        }
    }
}

fn encode_header(key: &[u8; 32], prefix: &[LlamaToken], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 32 + 4 + prefix.len() * 4 + 8 + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(key);
    out.extend_from_slice(&(prefix.len() as u32).to_le_bytes());
    for t in prefix {
        out.extend_from_slice(&t.0.to_le_bytes());
    }
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(data));
    out
}

/// Checks a file's bytes; returns where its state data is.
fn decode(bytes: &[u8], key: &[u8; 32], prefix: &[LlamaToken]) -> Result<std::ops::Range<usize>, &'static str> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(8)? != MAGIC {
        return Err("not a prompt state file");
    }
    if r.take(32)? != key {
        return Err("saved for another model, context or prompt");
    }
    let n = u32::from_le_bytes(r.take(4)?.try_into().unwrap()) as usize;
    if n != prefix.len() {
        return Err("token count differs");
    }
    let tokens = r.take(n.checked_mul(4).ok_or("bad token count")?)?;
    if tokens.chunks_exact(4).zip(prefix).any(|(b, t)| i32::from_le_bytes(b.try_into().unwrap()) != t.0) {
        return Err("tokens differ");
    }
    let len = u64::from_le_bytes(r.take(8)?.try_into().unwrap());
    let sha: [u8; 32] = r.take(32)?.try_into().unwrap();
    if len == 0 || len != (bytes.len() - r.at) as u64 {
        return Err("truncated or padded");
    }
    let data = r.at..bytes.len();
    if <[u8; 32]>::from(Sha256::digest(&bytes[data.clone()])) != sha {
        return Err("checksum mismatch");
    }
    Ok(data)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("truncated")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
}

fn touch(path: &Path) {
    if let Ok(f) = fs::OpenOptions::new().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(n_ctx: u32) -> StateIdentity {
        StateIdentity { model_name: "m.gguf".into(), model_size: 123, n_ctx, n_batch: 256, n_ubatch: 256 }
    }

    fn toks(v: &[i32]) -> Vec<LlamaToken> {
        v.iter().map(|&i| LlamaToken(i)).collect()
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sb-llm-state-{name}-{}", uuid::Uuid::now_v7().simple()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn round_trip_and_keys() {
        let dir = tempdir("rt");
        let cache = StateCache::new(&dir, 4, &id(8192));
        let p = toks(&[1, 2, 3]);
        assert_eq!(cache.load(&p), None);
        let path = cache.save(&p, b"kv data").unwrap();
        assert!(path.starts_with(&dir) && path.extension().unwrap() == "state");
        assert_eq!(cache.load(&p).as_deref(), Some(&b"kv data"[..]));
        // Another prefix, another context size: other files.
        assert_ne!(cache.path(&toks(&[1, 2, 4])), path);
        assert_ne!(StateCache::new(&dir, 4, &id(4096)).path(&p), path);
        assert_eq!(StateCache::new(&dir, 4, &id(4096)).load(&p), None);
        assert!(path.exists(), "a miss under another key leaves the file alone");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_or_mismatched_files_are_deleted() {
        let dir = tempdir("bad");
        let cache = StateCache::new(&dir, 4, &id(8192));
        let p = toks(&[5, 6, 7, 8]);
        let data = vec![7u8; 1000];
        let good = fs::read(cache.save(&p, &data).unwrap()).unwrap();
        let path = cache.path(&p);

        let mut flipped = good.clone();
        flipped[good.len() - 10] ^= 1;
        let mut wrong_key = good.clone();
        wrong_key[8] ^= 1;
        let mut wrong_tokens = good.clone();
        wrong_tokens[8 + 32 + 4] ^= 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("flipped data", flipped),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("padded", [good.as_slice(), b"x"].concat()),
            ("header only", good[..20].to_vec()),
            ("empty", vec![]),
            ("garbage", b"not a state file at all".to_vec()),
            ("other key", wrong_key),
            ("other tokens", wrong_tokens),
        ];
        for (name, bytes) in cases {
            fs::write(&path, bytes).unwrap();
            assert_eq!(cache.load(&p), None, "{name}");
            assert!(!path.exists(), "{name}: deleted");
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(cache.load(&p), Some(data));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keeps_the_newest_files() {
        let dir = tempdir("prune");
        let cache = StateCache::new(&dir, 2, &id(8192));
        fs::write(dir.join("unrelated.txt"), "keep me").unwrap();
        let (a, b, c) = (toks(&[1]), toks(&[2]), toks(&[3]));
        cache.save(&a, b"a").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        cache.save(&b, b"b").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Reading `a` makes it the most recently used.
        assert!(cache.load(&a).is_some());
        std::thread::sleep(Duration::from_millis(20));
        cache.save(&c, b"c").unwrap();
        assert!(cache.path(&a).exists() && cache.path(&c).exists());
        assert!(!cache.path(&b).exists(), "the least recently used went");
        assert!(dir.join("unrelated.txt").exists());
        // A temporary file a crash left an hour ago goes; a fresh one stays.
        let old_tmp = dir.join("ab.state.tmp-1");
        let new_tmp = dir.join("cd.state.tmp-2");
        fs::write(&old_tmp, "x").unwrap();
        fs::write(&new_tmp, "x").unwrap();
        fs::File::options()
            .write(true)
            .open(&old_tmp)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        cache.save(&c, b"c").unwrap();
        assert!(!old_tmp.exists() && new_tmp.exists());
        fs::remove_file(new_tmp).unwrap();
        let states = fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "state");
        assert_eq!(states.count(), 2);
        fs::remove_dir_all(dir).unwrap();
    }
}
