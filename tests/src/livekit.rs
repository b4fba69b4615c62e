//! A real LiveKit server (built by the setup script from its Go module) on
//! free loopback ports, in development mode, for one test; stopped when
//! dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use switchboard_core::speech::AudioFrame;

pub const KEY: &str = "switchboard-test";
/// 32 characters or more: the server warns about shorter secrets.
pub const SECRET: &str = "a-test-secret-that-is-long-enough-0123";

/// `SWITCHBOARD_LIVEKIT_BIN`, else where `scripts/setup.sh test` puts it.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SWITCHBOARD_LIVEKIT_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".cache/switchboard/livekit/v1.13.5/livekit-server")
}

pub struct LiveKitServer {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    pub port: u16,
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl LiveKitServer {
    pub fn start() -> LiveKitServer {
        let bin = binary();
        assert!(bin.is_file(), "the LiveKit server is not at {} (run scripts/setup.sh test)", bin.display());
        let dir = tempfile::tempdir().unwrap();
        let port = free_tcp_port();
        // Loopback only, no public address discovery (the machine may have
        // no route out), media on loopback candidates.
        let yaml = format!(
            "port: {port}\nbind_addresses: [127.0.0.1]\nrtc:\n  tcp_port: {}\n  udp_port: {}\n  \
             enable_loopback_candidate: true\n  use_external_ip: false\nkeys:\n  {KEY}: {SECRET}\n",
            free_tcp_port(),
            free_udp_port()
        );
        let config = dir.path().join("livekit.yaml");
        std::fs::File::create(&config).unwrap().write_all(yaml.as_bytes()).unwrap();
        let log = std::fs::File::create(dir.path().join("livekit.log")).unwrap();
        let child = Command::new(&bin)
            .args(["--dev", "--node-ip", "127.0.0.1", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut server = LiveKitServer { child: Some(child), _dir: dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the LiveKit server exited ({status}): {}", server.log());
            }
            assert!(Instant::now() < deadline, "the LiveKit server did not listen within 30 s: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("livekit.log")).unwrap_or_default()
    }

    /// The configuration that signs for this server.
    pub fn config(&self) -> switchboard_livekit::LiveKitConfig {
        switchboard_livekit::LiveKitConfig {
            url: Some(self.url()),
            api_key: Some(KEY.into()),
            api_secret: Some(SECRET.into()),
        }
    }

    /// Stops the server (SIGKILL: it has nothing to save).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LiveKitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Python of the venv the setup script makes (LiveKit's SDK inside).
pub fn python() -> std::path::PathBuf {
    let p = std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/switchboard/lk-venv/bin/python");
    assert!(p.is_file(), "{} is missing (run scripts/setup.sh test)", p.display());
    p
}

/// A participant on LiveKit's Python SDK (`tests/livekit/participant.py`),
/// driven by lines on its stdin.
pub struct Participant {
    child: Child,
    stdin: ChildStdin,
    lines: std_mpsc::Receiver<String>,
    seen: Vec<String>,
    pub identity: String,
}

impl Participant {
    pub fn join(url: &str, token: &str, identity: &str) -> Participant {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("livekit/participant.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--url", url, "--token", token])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python participant");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Participant { child, stdin, lines, seen: Vec::new(), identity: identity.to_string() };
        p.wait_line(|l| l == "ready", Duration::from_secs(30));
        p
    }

    /// The first line (seen before or arriving within `limit`) that
    /// matches; lines that do not match are kept for later waits.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool, limit: Duration) -> String {
        if let Some(i) = self.seen.iter().position(|l| pred(l)) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(l) => self.seen.push(l),
                Err(_) => {
                    panic!("participant {}: no matching line within {limit:?} (saw {:?})", self.identity, self.seen)
                }
            }
        }
    }

    pub fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn play(&mut self, wav: &Path) {
        self.send(&format!("play {}", wav.display()));
    }

    /// What was recorded since the last save.
    pub fn save(&mut self, dir: &Path, name: &str) -> AudioFrame {
        let path = dir.join(name);
        self.send(&format!("save {}", path.display()));
        self.wait_line(|l| l.starts_with("saved "), Duration::from_secs(10));
        switchboard_voice::wav::decode(&std::fs::read(&path).unwrap()).unwrap()
    }

    pub fn quit(mut self) {
        self.send("quit");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
