//! The real `switchboard` binary as a child process, for suites that must
//! kill it (`kill -9`) or watch its memory from outside.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::TOKEN;

const URL_PREFIX: &str = "Switchboard is running: open http://";

/// The server binary `cargo test --workspace` built beside this test (or
/// `SWITCHBOARD_BIN`).
pub fn server_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/<test> → target/debug/switchboard
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("switchboard")).expect("target dir");
    assert!(bin.exists(), "{} not built: run `cargo test --workspace --no-run` first", bin.display());
    bin
}

/// A `switchboard serve` on a free loopback port over `data_dir`.
pub struct ServerProcess {
    child: Option<Child>,
    pub base: String,
    pub client: reqwest::Client,
    /// Everything the server wrote to stderr (its log), kept for scans.
    pub log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts the server with `args` after `serve --bind 127.0.0.1:0
    /// --data-dir DIR`, the test token, and waits for its URL line.
    pub fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut cmd = Command::new(server_binary());
        cmd.arg("serve").arg("--bind").arg("127.0.0.1:0").arg("--data-dir").arg(data_dir).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("SWITCHBOARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("SWITCHBOARD_API_TOKEN", TOKEN).env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(URL_PREFIX) {
                    let _ = tx.send(rest.split('/').next().unwrap_or_default().to_string());
                }
            }
        });
        let mut process = ServerProcess { child: Some(child), base: String::new(), client: client(), log };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => process.base = format!("http://{addr}"),
            Err(e) => {
                process.kill9();
                panic!("no URL line within 120 s ({e}); log:\n{}", process.log.lock().unwrap());
            }
        }
        process
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no handler runs, nothing is flushed.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `within`).
    pub fn stop(&mut self, within: Duration) -> bool {
        let Some(mut c) = self.child.take() else { return true };
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// OS threads of the process, from /proc.
    pub fn threads(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("Threads:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A client with the test token and a request timeout.
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {TOKEN}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).timeout(Duration::from_secs(20)).build().unwrap()
}
