//! Small file-system helpers shared by the modules: temp paths that clean up
//! after themselves, and SHA-256 of files and of written streams.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex) of a whole file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// A name unique within this machine for a while: pid, time, counter.
/// Used for temp paths beside a destination so the final move is a rename.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}.{:08x}.{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A path removed (file or directory tree) when dropped, unless `keep` was
/// called: so every error path, panic or cancelled future cleans up.
#[derive(Debug)]
pub struct TempPath {
    path: Option<PathBuf>,
}

impl TempPath {
    /// A temp file path beside `dest` (same directory, so renaming it onto
    /// `dest` is atomic). Nothing is created yet.
    pub fn beside(dest: &Path) -> TempPath {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = dest.parent().unwrap_or(Path::new("."));
        TempPath { path: Some(dir.join(format!(".{name}.{}.part", unique_suffix()))) }
    }

    /// Creates a fresh directory `dir/.{prefix}.XXXX`.
    pub fn new_dir(dir: &Path, prefix: &str) -> io::Result<TempPath> {
        let path = dir.join(format!(".{prefix}.{}", unique_suffix()));
        fs::create_dir(&path)?;
        Ok(TempPath { path: Some(path) })
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("TempPath used after keep")
    }

    /// Renames onto `dest` (atomic on one file system) and disarms the guard.
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(self.path(), dest)?;
        self.path = None;
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            // Best effort; a missing path is fine.
            if p.is_dir() {
                let _ = fs::remove_dir_all(&p);
            } else {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// A writer that hashes and counts what goes through it, so the output's
/// SHA-256 needs no second read of the file.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), count: 0 }
    }

    /// (inner writer, bytes written, SHA-256 hex).
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.count, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
