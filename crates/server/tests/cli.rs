//! Tests of the real `switchboard` binary: start-up, configuration
//! precedence, signals and clear failures on bad configuration.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// Start-up loads two models (language and embeddings) and, with `--demo`,
// seeds and embeds the demo knowledge: generous on a loaded 2-core machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
const URL_PREFIX: &str = "Switchboard is running: open http://";

/// Every `SWITCHBOARD_*` variable the binary reads, removed so the host
/// environment cannot leak into a test.
const ENV_VARS: &[&str] = &[
    "SWITCHBOARD_BIND",
    "SWITCHBOARD_DATA_DIR",
    "SWITCHBOARD_DEMO",
    "SWITCHBOARD_CONFIG",
    "SWITCHBOARD_REQUEST_TIMEOUT",
    "SWITCHBOARD_WEBHOOK_URL",
    "SWITCHBOARD_UI_DIR",
    "SWITCHBOARD_API_TOKEN",
];

/// A `switchboard` command with a clean environment, run from `cwd` (so the
/// default `ui/dist` lookup never sees the repository's files).
fn switchboard(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for v in ENV_VARS {
        cmd.env_remove(v);
    }
    // No anyhow backtraces: keep error output to the message under test.
    cmd.env("RUST_LOG", "info").env("RUST_BACKTRACE", "0").env_remove("RUST_LIB_BACKTRACE").current_dir(cwd);
    cmd
}

/// Kills the child on drop unless it has already been reaped.
struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    fn pid(&self) -> u32 {
        self.child.as_ref().expect("child present").id()
    }

    /// Waits up to `timeout` for the child to exit; `None` if it did not.
    fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("child present");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl ChildGuard {
    /// Kills and reaps the child if it is still running.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running server: its address, token, and the captured output.
struct Server {
    guard: ChildGuard,
    base: String,
    token: String,
    stdout_lines: mpsc::Receiver<String>,
    /// Stdout lines read so far (the rest arrive through `stdout_lines`).
    stdout_seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

/// What a server wrote, once it has exited.
struct Output {
    stdout: String,
    stderr: String,
}

impl Server {
    /// Starts `cmd` (which must be a `serve` command) and waits for the URL line.
    fn start(mut cmd: Command) -> Server {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let guard = ChildGuard { child: Some(child) };
        let stderr = Some(spawn_reader(stderr));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            guard,
            base: String::new(),
            token: String::new(),
            stdout_lines: rx,
            stdout_seen: Vec::new(),
            stderr,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.stdout_lines.recv_timeout(left) {
                Ok(line) => {
                    let url = line.strip_prefix(URL_PREFIX).map(|rest| {
                        let (addr, token) =
                            rest.split_once("/#token=").unwrap_or_else(|| panic!("malformed URL line: {line}"));
                        (format!("http://{addr}"), token.trim().to_string())
                    });
                    server.stdout_seen.push(line);
                    if let Some((base, token)) = url {
                        server.base = base;
                        server.token = token;
                        return server;
                    }
                }
                Err(e) => {
                    // Timed out or stdout closed (the process died): show why.
                    server.guard.kill();
                    let err = server.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
                    panic!("no URL line within {STARTUP_TIMEOUT:?} ({e}); stderr:\n{err}");
                }
            }
        }
    }

    fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().expect("port is a number")
    }

    /// Sends `signal` (e.g. "TERM") and asserts a clean exit within 10 s
    /// that logs "stopped cleanly"; returns what the server wrote.
    fn stop_with(mut self, signal: &str) -> Output {
        let pid = self.guard.pid();
        let st = Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status().expect("run kill");
        assert!(st.success(), "kill -{signal} {pid} failed");
        let status = self.guard.wait_timeout(EXIT_TIMEOUT);
        // Kill a child that ignored the signal, so reading its output cannot hang.
        self.guard.kill();
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        let mut lines = std::mem::take(&mut self.stdout_seen);
        // The reader thread ends (disconnecting the channel) once the pipe closes.
        while let Ok(line) = self.stdout_lines.recv_timeout(EXIT_TIMEOUT) {
            lines.push(line);
        }
        let out = Output { stdout: lines.join("\n"), stderr };
        let status = status.unwrap_or_else(|| {
            panic!(
                "did not exit within {EXIT_TIMEOUT:?} of SIG{signal}; stdout:\n{}\nstderr:\n{}",
                out.stdout, out.stderr
            )
        });
        assert!(status.success(), "SIG{signal} exit status {status}; stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("stopped cleanly"),
            "no 'stopped cleanly' after SIG{signal}; stdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
        out
    }
}

fn spawn_reader(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn serve_cmd(cwd: &Path, data_dir: &Path) -> Command {
    let mut cmd = switchboard(cwd);
    cmd.arg("serve").arg("--bind").arg("127.0.0.1:0").arg("--data-dir").arg(data_dir);
    cmd
}

/// Runs a command expected to fail fast; returns (status, stderr).
fn run_failing(mut cmd: Command) -> (ExitStatus, String) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn switchboard");
    let stdout = spawn_reader(child.stdout.take().unwrap());
    let stderr = spawn_reader(child.stderr.take().unwrap());
    let mut guard = ChildGuard { child: Some(child) };
    let status = guard.wait_timeout(EXIT_TIMEOUT);
    guard.kill(); // if still running, so the readers finish
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    let status =
        status.unwrap_or_else(|| panic!("still running after {EXIT_TIMEOUT:?}; stdout:\n{out}\nstderr:\n{err}"));
    assert!(!status.success(), "expected failure, got {status}; stdout:\n{out}\nstderr:\n{err}");
    assert!(!out.contains(URL_PREFIX), "server reported running despite bad config:\n{out}");
    (status, err)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

#[tokio::test]
async fn serve_prints_url_and_stops_cleanly_on_sigterm() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(serve_cmd(cwd.path(), data.path()));
    assert_ne!(server.port(), 0);

    let on_disk = std::fs::read_to_string(data.path().join("api-token")).expect("api-token written");
    assert!(!server.token.is_empty());
    assert_eq!(server.token, on_disk.trim());

    let http = client();
    let health = http.get(format!("{}/health", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let unauth = http.get(format!("{}/api/help-requests", server.base)).send().await.unwrap();
    assert_eq!(unauth.status(), 401, "the API requires the token");

    let list = http.get(format!("{}/api/help-requests", server.base)).bearer_auth(&server.token).send().await.unwrap();
    assert_eq!(list.status(), 200);
    let list: serde_json::Value = list.json().await.unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(0), "no demo: the queue starts empty");

    server.stop_with("TERM");
}

#[tokio::test]
async fn sigint_also_stops_cleanly() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = serve_cmd(cwd.path(), data.path());
    cmd.arg("--demo");
    let server = Server::start(cmd);

    let kb =
        client().get(format!("{}/api/knowledge-base", server.base)).bearer_auth(&server.token).send().await.unwrap();
    assert_eq!(kb.status(), 200);
    let kb: serde_json::Value = kb.json().await.unwrap();
    let n = kb.as_array().expect("array").len();
    assert!(n >= 12, "demo knowledge base has {n} entries, expected at least 12");

    server.stop_with("INT");
}

/// Creates a help request and returns `deadline_at - created_at`.
async fn deadline_span(server: &Server) -> chrono::Duration {
    let res = client()
        .post(format!("{}/api/help-requests", server.base))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({"customer_name": "A", "channel": "phone", "question": "Q?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(body[k].as_str().unwrap_or_else(|| panic!("{k} missing: {body}")))
            .unwrap_or_else(|e| panic!("{k} is not RFC 3339: {e}"))
    };
    at("deadline_at") - at("created_at")
}

#[tokio::test]
async fn env_and_config_file_are_honoured() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = cwd.path().join("switchboard.toml");
    std::fs::write(&config, "request_timeout = \"90s\"\ndemo = true\n").unwrap();

    // File only (plus the token from the environment).
    let mut cmd = serve_cmd(cwd.path(), data.path());
    cmd.arg("--config").arg(&config).env("SWITCHBOARD_API_TOKEN", "envtoken");
    let server = Server::start(cmd);
    assert_eq!(server.token, "envtoken", "the environment's token is the one printed");
    assert!(!data.path().join("api-token").exists(), "no per-install token file when the environment supplies one");

    let wrong =
        client().get(format!("{}/api/help-requests", server.base)).bearer_auth("nottheone").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    // `demo = true` in the file seeded the knowledge base.
    let kb: serde_json::Value = client()
        .get(format!("{}/api/knowledge-base", server.base))
        .bearer_auth("envtoken")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(kb.as_array().unwrap().len() >= 12, "demo = true in the file seeds the demo");
    assert_eq!(deadline_span(&server).await, chrono::Duration::seconds(90));
    server.stop_with("TERM");

    // A flag overrides the file.
    let data2 = tempfile::tempdir().unwrap();
    let mut cmd = serve_cmd(cwd.path(), data2.path());
    cmd.arg("--config").arg(&config).arg("--request-timeout").arg("2m").env("SWITCHBOARD_API_TOKEN", "envtoken");
    let server = Server::start(cmd);
    assert_eq!(deadline_span(&server).await, chrono::Duration::seconds(120));
    server.stop_with("TERM");

    // So does the environment variable.
    let data3 = tempfile::tempdir().unwrap();
    let mut cmd = serve_cmd(cwd.path(), data3.path());
    cmd.arg("--config").arg(&config).env("SWITCHBOARD_REQUEST_TIMEOUT", "45s").env("SWITCHBOARD_API_TOKEN", "envtoken");
    let server = Server::start(cmd);
    assert_eq!(deadline_span(&server).await, chrono::Duration::seconds(45));
    server.stop_with("TERM");
}

#[test]
fn bad_configuration_fails_with_a_clear_message() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();

    // A webhook that is not http(s).
    let mut cmd = serve_cmd(cwd.path(), data.path());
    cmd.args(["--webhook-url", "ftp://x"]);
    let (_, err) = run_failing(cmd);
    assert!(err.to_lowercase().contains("webhook"), "stderr should name the webhook:\n{err}");

    // An unknown key in the config file.
    let bad = cwd.path().join("bad.toml");
    std::fs::write(&bad, "request_timeot = \"1s\"\n").unwrap();
    let mut cmd = serve_cmd(cwd.path(), data.path());
    cmd.arg("--config").arg(&bad);
    let (_, err) = run_failing(cmd);
    assert!(
        err.contains(&bad.display().to_string()) || err.contains("unknown field"),
        "stderr should name the file or the unknown field:\n{err}"
    );
    assert!(err.contains("request_timeot"), "stderr should name the bad key:\n{err}");

    // A zero request timeout.
    let mut cmd = serve_cmd(cwd.path(), data.path());
    cmd.args(["--request-timeout", "0s"]);
    let (_, err) = run_failing(cmd);
    assert!(err.contains("at least 1s"), "stderr should give the lower bound:\n{err}");

    // A port already in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cmd = switchboard(cwd.path());
    cmd.arg("serve").arg("--bind").arg(addr.to_string()).arg("--data-dir").arg(data.path());
    let (_, err) = run_failing(cmd);
    assert!(err.contains("cannot listen"), "stderr should say it cannot listen:\n{err}");
    assert!(err.contains(&addr.to_string()), "stderr should name the address:\n{err}");
    drop(taken);

    // A config file that does not exist.
    let missing = cwd.path().join("does-not-exist.toml");
    let mut cmd = serve_cmd(cwd.path(), data.path());
    cmd.arg("--config").arg(&missing);
    let (_, err) = run_failing(cmd);
    assert!(err.contains("cannot read config file"), "stderr should say the file cannot be read:\n{err}");
    assert!(err.contains(&missing.display().to_string()), "stderr should name the file:\n{err}");
}

/// A data directory a newer Switchboard migrated: refused at start, with
/// why, a non-zero exit, and the database left as it was.
#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_at_start() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("switchboard.sqlite");
    drop(switchboard_store::SqliteStore::open(&db).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let (_, err) = run_failing(serve_cmd(cwd.path(), data.path()));
    assert!(err.contains("newer Switchboard") && err.contains("9999"), "stderr should say why:\n{err}");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 9999")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "the database is left as it was");
}

/// stdout is for people and scripts reading the URL line; logs belong on
/// stderr, without colour codes when piped.
#[tokio::test]
async fn logs_go_to_stderr_and_stdout_stays_machine_readable() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(serve_cmd(cwd.path(), data.path()));
    let out = server.stop_with("TERM");
    assert!(out.stderr.contains("stopped cleanly"), "logs should go to stderr; stderr:\n{}", out.stderr);
    for line in out.stdout.lines() {
        assert!(
            line.starts_with(URL_PREFIX) || line.starts_with("Data directory: "),
            "unexpected line on stdout: {line:?}"
        );
    }
}

/// A key from the environment is used, shown as set, and never written to
/// the data directory, whatever the settings screen saves meanwhile.
#[tokio::test]
async fn an_api_key_from_the_environment_is_never_written_to_disk() {
    const KEY: &str = "sk-from-the-environment-4242";
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = serve_cmd(cwd.path(), data.path());
        cmd.args(["--llm-engine", "openai", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m"])
            .env("SWITCHBOARD_LLM_API_KEY", KEY);
        Server::start(cmd)
    };
    let server = start();
    let url = format!("{}/api/settings/model", server.base);
    let shown: serde_json::Value =
        client().get(&url).bearer_auth(&server.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["api_key_set"], true, "{shown}");
    // Saved from the settings screen for the same server, without a key.
    let body = serde_json::json!({"engine": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m2"});
    let set: serde_json::Value =
        client().put(&url).bearer_auth(&server.token).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!((set["settings"]["model"].as_str(), set["api_key_set"].as_bool()), (Some("m2"), Some(true)), "{set}");
    server.stop_with("TERM");
    // After a restart the saved choice applies, the key still from the
    // environment.
    let server = start();
    let url = format!("{}/api/settings/model", server.base);
    let kept: serde_json::Value =
        client().get(&url).bearer_auth(&server.token).send().await.unwrap().json().await.unwrap();
    assert_eq!((kept["settings"]["model"].as_str(), kept["api_key_set"].as_bool()), (Some("m2"), Some(true)), "{kept}");
    let out = server.stop_with("TERM");
    let logs = format!("{}{}", out.stdout, out.stderr);
    assert!(!logs.contains(KEY), "the key is in the logs");
    let mut stack = vec![data.path().to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "the key is in {}", p.display());
        }
    }
}
