//! The desktop app end to end, in a real window: `tauri-driver` drives the
//! WebKitGTK webview through `WebKitWebDriver`, the API is called over HTTP,
//! and notifications are read from a notification daemon's log.
//!
//! Needs an X display (Xvfb), a D-Bus session, `dunst -print` writing to
//! `$DUNST_LOG`, `tauri-driver` and `/usr/bin/WebKitWebDriver`, hence ignored
//! by default. Run it with `bash scripts/desktop-e2e.sh`.
//!
//! Covered: the window loads the in-process server's UI, live; a new help
//! request raises a native notification, a queue row and the tray's count;
//! the supervisor answers from the keyboard and the API shows the answer;
//! clicking the notification opens its request in the window; a second launch
//! hands over to the first and exits; SIGTERM (like "Quit") stops the server
//! cleanly. Screenshots go to `target/screenshots/desktop-*.png`.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const TOKEN: &str = "desktop-e2e-token-0123456789";
const APP: &str = env!("CARGO_BIN_EXE_switchboard-desktop");
const QUEUE_ROW: &str = r#"[data-testid="queue-row"]"#;
/// The textarea whose accessible label is "Answer" (aria-label, `<label for>`, or a wrapping label).
const ANSWER: &str = "//textarea[@aria-label='Answer' or @id=//label[normalize-space(.)='Answer']/@for \
                      or ancestor::label[starts-with(normalize-space(.), 'Answer')]]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, a D-Bus session, dunst, tauri-driver and WebKitWebDriver: run `bash scripts/desktop-e2e.sh`"]
async fn supervisor_answers_from_the_desktop_window() {
    // fantoccini's rustls and reqwest's bring two crypto providers: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    assert!(
        std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()),
        "no DISPLAY: run this test through scripts/desktop-e2e.sh (Xvfb, D-Bus, dunst)"
    );
    let dunst_log = PathBuf::from(
        std::env::var_os("DUNST_LOG").expect("DUNST_LOG is not set: run this test through scripts/desktop-e2e.sh"),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let ui_dir = root.join("ui").join("dist");
    let ui_built = ui_dir.join("index.html").is_file();
    if !ui_built {
        assert!(
            std::env::var("SWITCHBOARD_E2E_ALLOW_NO_UI").is_ok_and(|v| v == "1"),
            "the web UI is not built ({} is missing): build it first, or set SWITCHBOARD_E2E_ALLOW_NO_UI=1 to test only the window plumbing",
            ui_dir.join("index.html").display()
        );
        eprintln!("NOTE: no web UI build: testing the window plumbing against the server's placeholder page only");
    }

    let data = tempfile::tempdir().unwrap();
    let app_port = free_port();
    let driver = Driver::start(&DriverEnv {
        data_dir: data.path(),
        app_port,
        ui_dir: &ui_dir,
        log: &data.path().join("driver.log"),
    });

    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": APP }));
    let client = ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session with the app (see the driver log below)");
    let session = Session(Some(client.clone()));

    let scenario = Scenario {
        client,
        api: Api::new(app_port),
        dunst_log,
        screenshots: root.join("target").join("screenshots"),
        ui_built,
        driver_log: driver.log.clone(),
        group: driver.group(),
    };
    // Run in a task so a failed assertion still reaches the cleanup below.
    let outcome = tokio::spawn(scenario.run()).await;
    drop(session);
    if let Err(e) = outcome {
        driver.print_log();
        drop(driver);
        std::panic::resume_unwind(e.into_panic());
    }
}

struct Scenario {
    client: Client,
    api: Api,
    dunst_log: PathBuf,
    screenshots: PathBuf,
    ui_built: bool,
    driver_log: PathBuf,
    group: i32,
}

impl Scenario {
    async fn run(self) {
        let c = &self.client;

        // The window shows the in-process server's page (token in the fragment).
        let health = self.api.get("/health").await;
        assert_eq!(health["status"], "ok", "the in-process server answers on SWITCHBOARD_BIND");
        wait_until("the page has loaded", Duration::from_secs(15), || async {
            c.execute("return document.readyState", vec![]).await.ok().is_some_and(|v| v == "complete")
        })
        .await;
        let url = c.current_url().await.unwrap();
        assert_eq!(
            url.origin().ascii_serialization(),
            format!("http://127.0.0.1:{}", self.api.port),
            "window URL {url}"
        );
        if self.ui_built {
            // A fresh install opens on the first-run screen; once the
            // business has a name the app itself shows.
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(r#"[data-testid="welcome-screen"]"#))
                .await
                .expect("the first-run screen on a fresh install");
            self.api.name_business("Desktop Test Shop").await;
            c.refresh().await.expect("reload the window");
            wait_until("the page has reloaded", Duration::from_secs(15), || async {
                c.execute("return document.readyState", vec![]).await.ok().is_some_and(|v| v == "complete")
            })
            .await;
            // The UI took the token from the fragment and its event stream is up.
            let pill = c
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(r#"[data-testid="connection"]"#))
                .await
                .expect("the connection pill");
            wait_until("the connection pill to say Live", Duration::from_secs(10), || async {
                pill.text().await.is_ok_and(|t| t.trim() == "Live")
            })
            .await;
        }

        // A new help request: a native notification, and a row in the queue.
        let question = format!("Can I bring my dog to the spa on Saturday? ({})", std::process::id());
        let created = self.api.create_request("Ada Lovelace", &question).await;
        let id = created["id"].as_str().unwrap().to_string();
        wait_for_notification(&self.dunst_log, &question).await;
        let pid = app_pid(self.group).expect("the app's process");
        let tray = Tray::find(pid).expect("the app's tray icon on D-Bus (StatusNotifierItem)");
        tray.wait_for_label("Switchboard — 1 pending").await;

        std::fs::create_dir_all(&self.screenshots).unwrap();
        if self.ui_built {
            let row_css = format!(r#"{QUEUE_ROW}[data-id="{id}"]"#);
            let row = c
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(&row_css))
                .await
                .expect("the queue shows a row for the new request");
            // textContent: WebDriver's visible text leaves out text-overflow'd spans in WebKitGTK.
            let text = c
                .execute("return document.querySelector(arguments[0]).textContent", vec![json!(row_css)])
                .await
                .unwrap();
            assert!(text.as_str().unwrap_or_default().contains(&question), "the row shows the question: {text}");
            self.screenshot("desktop-queue.png").await;
            // The whole X screen too: the window with the notification over it.
            screen_capture(&self.screenshots.join("desktop-screen.png"));

            // The supervisor answers from the keyboard: j selects, Enter opens, Ctrl+Enter sends.
            let answer_box = match self.open_with_keyboard().await {
                Some(a) => a,
                None => {
                    eprintln!("NOTE: j/Enter did not open the request within 3 s; clicking the row instead");
                    row.click().await.unwrap();
                    c.wait()
                        .at_most(Duration::from_secs(10))
                        .for_element(Locator::XPath(ANSWER))
                        .await
                        .expect("an Answer box after clicking the row")
                }
            };
            let answer = "Yes, well-behaved dogs are welcome on the terrace.";
            answer_box.click().await.unwrap();
            answer_box.send_keys(answer).await.unwrap();
            answer_box.send_keys(&(Key::Control + &Key::Enter)).await.unwrap();
            let resolved = wait_for_value("the API to show the answer", Duration::from_secs(10), || async {
                let r = self.api.get(&format!("/api/help-requests/{id}")).await;
                (r["status"] == "resolved").then_some(r)
            })
            .await;
            assert_eq!(resolved["answer"], answer);
            tray.wait_for_label("Switchboard — 0 pending").await;
            self.screenshot("desktop-answered.png").await;
        } else {
            self.screenshot("desktop-queue.png").await;
        }

        // Clicking a notification opens its request in the window.
        dunstctl(&["close-all"]);
        let question2 = format!("Do you sell gift cards online? ({})", std::process::id());
        let id2 = self.api.create_request("Grace Hopper", &question2).await["id"].as_str().unwrap().to_string();
        wait_for_notification(&self.dunst_log, &question2).await;
        dunstctl(&["action", "0"]);
        wait_until("the notification's request in the window", Duration::from_secs(10), || async {
            c.current_url()
                .await
                .ok()
                .is_some_and(|u| u.fragment().is_some_and(|f| f.contains(&format!("/requests/{id2}"))))
        })
        .await;
        if self.ui_built {
            self.screenshot("desktop-request.png").await;
        }

        // A second launch hands over to the running one and exits at once.
        // (Were it to start a server instead, the taken port would make it fail.)
        let elsewhere = tempfile::tempdir().unwrap();
        let second = Command::new(APP)
            .env("SWITCHBOARD_DATA_DIR", elsewhere.path())
            .env("SWITCHBOARD_BIND", format!("127.0.0.1:{}", self.api.port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = wait_for_exit(second, Duration::from_secs(15)).expect("a second launch exits");
        assert!(status.success(), "a second launch exits successfully: {status}");
        assert_eq!(self.api.get("/health").await["status"], "ok", "the first instance keeps running");

        // SIGTERM quits like the tray's "Quit": the server stops cleanly.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        wait_until("the app to exit", Duration::from_secs(20), || async { !alive(pid) }).await;
        let log = std::fs::read_to_string(&self.driver_log).unwrap_or_default();
        assert!(log.contains("stopped cleanly"), "the app logs a clean stop:\n{log}");
    }

    /// j selects the first row, Enter opens it; the Answer box then shows.
    async fn open_with_keyboard(&self) -> Option<fantoccini::elements::Element> {
        let c = &self.client;
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: 'j' })
            .then(KeyAction::Up { value: 'j' })
            .then(KeyAction::Down { value: Key::Enter.into() })
            .then(KeyAction::Up { value: Key::Enter.into() });
        c.perform_actions(keys).await.unwrap();
        c.wait().at_most(Duration::from_secs(3)).for_element(Locator::XPath(ANSWER)).await.ok()
    }

    async fn screenshot(&self, name: &str) {
        // Let the last DOM change reach the screen: two frames (or half a second).
        let settle = "const done = arguments[arguments.length - 1]; setTimeout(done, 500); \
                      requestAnimationFrame(() => requestAnimationFrame(() => done()));";
        let _ = self.client.execute_async(settle, vec![]).await;
        let png = self.client.screenshot().await.unwrap();
        let path = self.screenshots.join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }
}

/// The HTTP API of the app under test.
struct Api {
    port: u16,
    http: reqwest::Client,
}

impl Api {
    fn new(port: u16) -> Self {
        Api { port, http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap() }
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("http://127.0.0.1:{}{path}", self.port)).bearer_auth(TOKEN).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Names the business, as the first-run screen would.
    async fn name_business(&self, name: &str) {
        let r = self
            .http
            .put(format!("http://127.0.0.1:{}/api/settings/business", self.port))
            .bearer_auth(TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "name the business");
    }

    async fn create_request(&self, name: &str, question: &str) -> Value {
        let r = self
            .http
            .post(format!("http://127.0.0.1:{}/api/help-requests", self.port))
            .bearer_auth(TOKEN)
            .json(&json!({ "customer_name": name, "channel": "phone", "question": question }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create a help request");
        r.json().await.unwrap()
    }
}

struct DriverEnv<'a> {
    data_dir: &'a Path,
    app_port: u16,
    ui_dir: &'a Path,
    log: &'a Path,
}

/// `tauri-driver` (with WebKitWebDriver and the app below it) in a process
/// group of its own; on drop the whole group is ended.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn start(env: &DriverEnv<'_>) -> Driver {
        let port = free_port();
        let native_port = free_port();
        let log = File::create(env.log).unwrap();
        let mut cmd = Command::new(tauri_driver());
        cmd.args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .args(["--native-driver", "/usr/bin/WebKitWebDriver"])
            // tauri-driver hands its environment down to the app.
            .env("SWITCHBOARD_DATA_DIR", env.data_dir)
            .env("SWITCHBOARD_API_TOKEN", TOKEN)
            .env("SWITCHBOARD_BIND", format!("127.0.0.1:{}", env.app_port))
            .env("SWITCHBOARD_UI_DIR", env.ui_dir)
            .env("RUST_LOG", "info,sqlx=warn,tantivy=warn,tower_http=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().expect("start tauri-driver");
        let driver = Driver { child, port, log: env.log.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver does not listen on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn print_log(&self) {
        let mut log = String::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut log));
        eprintln!("---- tauri-driver and app log ----\n{log}----");
    }

    fn group(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = self.group();
        // tauri-driver stops WebKitWebDriver on SIGTERM; the app quits cleanly on it.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let _ = self.child.try_wait();
            if unsafe { libc::kill(-group, 0) } != 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
        if std::thread::panicking() {
            self.print_log();
        }
    }
}

/// Ends the WebDriver session (and with it the app, if still running) on drop.
struct Session(Option<Client>);

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    // The app may be gone already (the scenario quits it): errors are expected.
                    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
                })
            });
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tauri_driver() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    cargo_home
        .map(|d| d.join("bin").join("tauri-driver"))
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join("tauri-driver"))
                .find(|p| p.is_file())
        })
        .expect("tauri-driver not found: cargo install tauri-driver --version '^2' --locked")
}

async fn wait_for_notification(log: &Path, text: &str) {
    wait_until(&format!("a notification with {text:?} in {}", log.display()), Duration::from_secs(10), || async {
        std::fs::read_to_string(log).is_ok_and(|l| l.contains(text))
    })
    .await;
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("New help request"), "the notification's summary:\n{log}");
}

/// The app's tray icon as libayatana-appindicator exports it on the session
/// bus (a StatusNotifierItem); its label is the tray's title.
struct Tray {
    connection: String,
    path: String,
}

impl Tray {
    fn find(pid: i32) -> Option<Tray> {
        let names = dbus_send("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames", &[])?;
        quoted(&names).into_iter().filter(|n| n.starts_with(':')).find_map(|connection| {
            let owner = dbus_send(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.GetConnectionUnixProcessID",
                &[&format!("string:{connection}")],
            )?;
            if owner.split_whitespace().last()?.parse::<i32>().ok()? != pid {
                return None;
            }
            let root = "/org/ayatana/NotificationItem";
            let xml = dbus_send(&connection, root, "org.freedesktop.DBus.Introspectable.Introspect", &[])?;
            let node = xml.split("<node name=\"").nth(1)?.split('"').next()?.to_string();
            Some(Tray { path: format!("{root}/{node}"), connection })
        })
    }

    fn label(&self) -> Option<String> {
        let reply = dbus_send(
            &self.connection,
            &self.path,
            "org.freedesktop.DBus.Properties.Get",
            &["string:org.kde.StatusNotifierItem", "string:XAyatanaLabel"],
        )?;
        quoted(&reply).into_iter().next()
    }

    async fn wait_for_label(&self, expected: &str) {
        let seen = poll(Duration::from_secs(10), || async { self.label().filter(|l| l == expected) }).await;
        assert!(seen.is_some(), "the tray's label should become {expected:?}; it is {:?}", self.label());
    }
}

/// One D-Bus call with `dbus-send`; the printed reply, or None on an error.
fn dbus_send(dest: &str, path: &str, method: &str, args: &[&str]) -> Option<String> {
    // Short: some of the app's connections (notification threads) do not answer.
    let out = Command::new("dbus-send")
        .args(["--session", "--print-reply", "--reply-timeout=500", &format!("--dest={dest}"), path, method])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The double-quoted strings in `dbus-send` output.
fn quoted(reply: &str) -> Vec<String> {
    reply.lines().filter_map(|l| Some(l.split_once('"')?.1.rsplit_once('"')?.0.to_string())).collect()
}

/// The X root window, with imagemagick's `import` (skipped when it is missing).
fn screen_capture(path: &Path) {
    match Command::new("import").args(["-window", "root"]).arg(path).status() {
        Ok(s) if s.success() => eprintln!("screenshot: {}", path.display()),
        Ok(s) => eprintln!("NOTE: import -window root failed: {s}"),
        Err(e) => eprintln!("NOTE: no screen capture (imagemagick's import: {e})"),
    }
}

fn dunstctl(args: &[&str]) {
    let status = Command::new("dunstctl").args(args).status().expect("dunstctl (from the dunst package)");
    assert!(status.success(), "dunstctl {args:?}: {status}");
}

async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for_value(what, within, || {
        let f = check();
        async move { f.await.then_some(()) }
    })
    .await
}

async fn wait_for_value<T, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll(within, check).await {
        Some(v) => v,
        None => panic!("timed out after {within:?} waiting for {what}"),
    }
}

/// `check` every 100 ms until it returns a value or `within` has passed.
async fn poll<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wait_for_exit(mut child: Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The app under test: our binary, in the driver's process group.
fn app_pid(group: i32) -> Option<i32> {
    let app = std::fs::canonicalize(APP).ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
        (exe == app && process_group(pid) == Some(group) && alive(pid)).then_some(pid)
    })
}

/// Field 5 of /proc/<pid>/stat (after the parenthesised command name).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(2)?.parse().ok()
}

/// Running, not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s[s.rfind(')')? + 1..].split_whitespace().next().map(|state| state != "Z"))
        .unwrap_or(false)
}
