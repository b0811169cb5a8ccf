//! Test harness: the real server on a loopback port with a fresh SQLite file, the demo host app on a second
//! origin (127.0.0.2), and headless Chromium driven through chromedriver.

use std::{
    future::Future,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use plugboard::{
    app::Application,
    demo::{self, provider::MockProvider},
    config::Settings,
    keys::{Environment, SecretKey},
    store::DynStore,
};
use tokio::{net::TcpListener, sync::oneshot};

pub use api::Server;
pub use fantoccini;

pub mod api;
pub mod db;
pub mod fixtures;
pub mod oidc;
pub mod quirks;
pub mod upstream;

impl Server for TestApp {
    fn url(&self) -> &str {
        &self.url
    }
    fn key(&self) -> &SecretKey {
        &self.key
    }
}

/// A `plugboard serve` child process (the tests crate's `plugboard-node` binary); killed when dropped.
pub struct ServerProcess {
    pub url: String,
    pub key: SecretKey,
    child: Child,
}

impl Server for ServerProcess {
    fn url(&self) -> &str {
        &self.url
    }
    fn key(&self) -> &SecretKey {
        &self.key
    }
}

impl ServerProcess {
    /// Runs `binary serve` on `addr` with `args` and `envs`; answers once `/healthz` does. Its public URL is its own
    /// address unless `args` names one (nodes behind one load balancer share theirs).
    pub async fn serve(binary: &str, addr: SocketAddr, key: &SecretKey, args: &[String], envs: &[(String, String)]) -> Self {
        let url = format!("http://{addr}");
        let public = if args.iter().any(|a| a == "--public-url") { Vec::new() } else { vec!["--public-url".to_owned(), url.clone()] };
        let child = Command::new(binary)
            .arg("serve")
            .args(["--bind", &addr.to_string(), "--secret-key", key.expose()])
            .args(public)
            .args(args)
            .envs(envs.iter().cloned())
            .env("RUST_LOG", "plugboard=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary runs");
        let node = Self { url, key: key.clone(), child };
        eventually("the server process answers /healthz", || async {
            reqwest::get(format!("{}/healthz", node.url)).await.ok().filter(|r| r.status() == 200).map(|_| ())
        })
        .await;
        node
    }
}

impl ServerProcess {
    /// `kill -TERM`, then waits up to `within` for the process to exit; answers its exit code (`None`: it did not
    /// exit in time, or died of a signal).
    pub fn terminate_and_wait(&mut self, within: Duration) -> Option<i32> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The process id (for its memory, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The master key of test servers on PostgreSQL (`id:base64 of 32 bytes`).
pub const TEST_MASTER_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A running Plugboard server; stops when dropped.
pub struct TestApp {
    pub url: String,
    pub addr: SocketAddr,
    pub key: SecretKey,
    pub store: DynStore,
    pub data_dir: tempfile::TempDir,
    /// Its database (SQLite in `data_dir`, or PostgreSQL: see [`db`]).
    pub db: std::sync::Arc<db::TestDb>,
    settings: Settings,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    /// Stops the server (in-flight requests finish, workers stop) and starts it again on the same address and
    /// data directory with settings changed by `tweak` — a restart with a new configuration.
    pub async fn restart(self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let TestApp { key, data_dir, db, mut settings, stop, task, addr, .. } = self;
        let _ = stop.send(());
        let _ = task.await;
        settings.bind = addr;
        settings.public_url = None;
        tweak(&mut settings);
        start(settings, key, data_dir, db).await
    }
}

pub fn settings(data_dir: &std::path::Path, key: &SecretKey) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().expect("literal address"),
        public_url: None,
        data_dir: data_dir.to_owned(),
        database_url: None,
        db_max_connections: 8,
        db_acquire_timeout_secs: 5,
        project_id: "test-project".into(),
        project_name: "Test project".into(),
        secret_key: vec![key.clone()],
        session_ttl_secs: 900,
        master_key: None,
        config: None,
        passthrough_timeout_secs: 60,
        request_timeout_secs: 30,
        refresh_interval_secs: 30,
        refresh_concurrency: 16,
        retry_base_ms: 10_000,
        webhook_give_up_secs: 259_200,
        limits: Default::default(),
        oauth_clients: Default::default(),
        extra_integrations: Vec::new(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server whose settings `tweak` may change (bind port 0, fresh data dir, one test key).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let key = SecretKey::generate(Environment::Test);
    let db = std::sync::Arc::new(db::TestDb::fresh(data_dir.path()).await);
    let mut s = settings(data_dir.path(), &key);
    s.database_url = Some(db.url.clone());
    if db.is_postgres() {
        // A shared database needs the master key given (nodes do not generate their own there).
        s.master_key = Some(plugboard::vault::SecretString::new(TEST_MASTER_KEY.to_owned()));
    }
    tweak(&mut s);
    start(s, key, data_dir, db).await
}

async fn start(s: Settings, key: SecretKey, data_dir: tempfile::TempDir, db: std::sync::Arc<db::TestDb>) -> TestApp {
    let app = Application::build(&s).await.expect("the app starts");
    let (addr, url, store) = (app.local_addr(), app.public_url().to_owned(), app.store());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp { url, addr, key, store, data_dir, db, settings: s, stop, task }
}

/// A server wired to a strict mock OAuth2 provider (catalog entries `mock-oauth` and `mock-api-key`).
/// `tweak` may change the settings and the provider's registration before either starts.
pub async fn spawn_with_provider(
    tweak: impl FnOnce(&mut Settings, &mut demo::provider::ProviderConfig),
) -> (TestApp, MockProvider) {
    let listener = TcpListener::bind("127.0.0.3:0").await.expect("bind 127.0.0.3");
    let provider_url = format!("http://{}", listener.local_addr().expect("bound"));
    // The provider must know Plugboard's redirect URI, and Plugboard the provider's URLs: bind both first.
    let app_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let app_addr = app_listener.local_addr().expect("bound");
    drop(app_listener);
    let public = format!("http://{app_addr}");
    let mut cfg = demo::mock_provider_config(&public, &provider_url);
    let mut tweak = Some(tweak);
    let app = spawn_app_with(|s| {
        s.bind = app_addr;
        demo::register_mock_client(s, &cfg, &provider_url);
        if let Some(t) = tweak.take() {
            t(s, &mut cfg);
        }
    })
    .await;
    let provider = MockProvider::new(cfg);
    let router = provider.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (app, provider)
}

/// The demo host app (page + token backend) on another origin: `http://127.0.0.2:<port>`.
pub async fn spawn_host(app: &TestApp) -> String {
    let listener = TcpListener::bind("127.0.0.2:0").await.expect("bind 127.0.0.2");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let router = plugboard::demo::router(&app.url, app.key.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Headless Chromium under a chromedriver child process; both end when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A browser whose pages see `prefers-color-scheme: dark`, as on a phone or desktop set to dark.
    pub async fn start_dark() -> Self {
        Self::start_with(&["--force-dark-mode"]).await
    }

    /// A browser started with `extra` Chromium switches besides the usual headless ones.
    pub async fn start_with(extra: &[&str]) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("bound").port()
        };
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test installs chromium-driver)");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,900",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra.iter().map(|a| a.to_string()));
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": args,
            }
        });
        let caps: fantoccini::wd::Capabilities = caps.as_object().expect("an object").clone();
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&webdriver).await {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not start: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Self { client, driver, _profile: profile }
    }

    /// The WCAG 2.2 A/AA violations axe-core (scripts/node_modules, pinned) finds in the current frame: one line
    /// each, `<rule>: <target> (<summary>)`; empty when there are none.
    pub async fn axe(&self) -> Vec<String> {
        let axe = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/node_modules/axe-core/axe.min.js"))
            .expect("axe-core (scripts/setup-test installs it)");
        self.client.execute(&format!("{axe}\nreturn 1;"), vec![]).await.expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
                   .then(r => done(r.violations.flatMap(v => v.nodes.map(n => v.id + ': ' + n.target.join(' ') + ' (' + (n.failureSummary || '').replace(/\\s+/g, ' ') + ')'))),
                         e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe runs");
        serde_json::from_value(found).expect("a list of strings")
    }

    /// Saves what the browser shows as `target/screenshots/<name>.png`, for a person to look at; answers the path.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("a screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await.expect("a screenshot")).expect("saved");
        path
    }

    /// Runs `js` (a function body; `return` a JSON value) in the current frame.
    pub async fn js(&self, js: &str) -> serde_json::Value {
        self.client.execute(js, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{js}"))
    }

    /// Waits until `js` returns a truthy value; panics with `what` after 10 s.
    pub async fn wait_js(&self, what: &str, js: &str) -> serde_json::Value {
        eventually(what, || async {
            let v = self.client.execute(js, vec![]).await.ok()?;
            let truthy = !matches!(v, serde_json::Value::Null | serde_json::Value::Bool(false))
                && v != serde_json::json!("")
                && v != serde_json::json!(0);
            truthy.then_some(v)
        })
        .await
    }

    pub async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.expect("click");
    }

    /// Switches into the first iframe of the current page (the widget).
    pub async fn enter_widget(&self) {
        self.wait_js("the widget iframe", "return document.querySelectorAll('iframe').length").await;
        self.client.enter_frame(Some(0)).await.expect("enter the widget frame");
    }

    pub async fn leave_widget(&self) {
        self.client.enter_parent_frame().await.expect("leave the frame");
    }

    /// The host page's log of callbacks (`#log`): one line each, `onSuccess <record>`, `onError <message>`, `onClose`.
    pub async fn host_log(&self) -> String {
        self.js("return document.getElementById('log').textContent").await.as_str().unwrap_or_default().to_owned()
    }

    /// The record the host page's onSuccess received (waits for it).
    pub async fn success_record(&self) -> plugboard_shared::ConnectionRecord {
        let line = self
            .wait_js("onSuccess", "return document.getElementById('log').textContent.split('\\n').find(l => l.startsWith('onSuccess '))")
            .await;
        serde_json::from_str(line.as_str().unwrap_or_default().trim_start_matches("onSuccess ")).expect("a connection record")
    }

    /// In the widget: searches "mock", picks `platform` from the list and waits for its connect screen.
    pub async fn pick(&self, platform: &str) {
        self.wait_js("the search box", "return document.querySelector('input[type=search]')").await;
        self.client.find(Locator::Css("input[type=search]")).await.expect("the search box").send_keys("mock").await.expect("typing");
        self.wait_js("the row", &format!("return document.querySelector('[data-platform={platform}]')")).await;
        self.click(&format!("[data-platform={platform}]")).await;
        self.wait_js("the connect screen", "return document.querySelector('.pb-form button[type=submit]')").await;
    }

    /// Waits for the OAuth popup and switches to it; answers the main window's handle.
    pub async fn switch_to_popup(&self) -> fantoccini::wd::WindowHandle {
        let main = self.client.window().await.expect("the main window");
        let popup = eventually("the popup window", || async { self.client.windows().await.ok()?.into_iter().find(|w| *w != main) }).await;
        self.client.switch_to_window(popup).await.expect("switch to the popup");
        main
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Makes the calling test run in a process of its own, for a test that reads what is process-wide (the metrics
/// registry every server in the process counts into): the test binary runs again with only this test, and the call
/// returns from the test here with that run's verdict. `alone!(test_fn_name)` as the test's first line.
#[macro_export]
macro_rules! alone {
    ($test:ident) => {
        if $crate::rerun_alone(module_path!(), stringify!($test)) {
            return;
        }
    };
}

/// [`alone!`]'s work: `true` once the test `name` in `module` passed in a child process (the caller returns);
/// `false` in that child, where the test runs.
pub fn rerun_alone(module: &str, name: &str) -> bool {
    const ALONE: &str = "PLUGBOARD_TEST_ALONE";
    // `it::abuse` → `abuse::<name>`, the test's name in the binary.
    let path = format!("{}::{name}", module.split_once("::").map_or(module, |(_, m)| m));
    if std::env::var(ALONE).is_ok_and(|v| v == path) {
        return false;
    }
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([path.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, &path)
        .output()
        .expect("the test binary runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.contains("test result: ok. 1 passed"), "{path}, run alone:\n{said}");
    true
}

/// Polls `probe` until it yields a value; panics naming `what` after 10 s.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A client that follows no redirect (the tests look at each hop).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A request stuck behind a lock fails the test instead of hanging it.
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A passthrough call `{method} /v1/passthrough/{path}` with the project's secret key and connection `key`.
pub fn passthrough(app: &(impl Server + ?Sized), key: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    http()
        .request(method, format!("{}/v1/passthrough/{path}", app.url()))
        .header("X-One-Secret", app.key().expose())
        .header("X-One-Connection-Key", key)
}

/// `n` concurrent `GET /v1/passthrough/{path}` calls for connection `key`, spread over `nodes` in turn; answers
/// their statuses.
pub async fn concurrent_gets(nodes: &[&dyn Server], key: &str, path: &str, n: usize) -> Vec<u16> {
    let calls = (0..n).map(|i| {
        let request = passthrough(nodes[i % nodes.len()], key, reqwest::Method::GET, path);
        tokio::spawn(async move { request.send().await.expect("a passthrough answer").status().as_u16() })
    });
    futures_util::future::join_all(calls).await.into_iter().map(|r| r.expect("the call ran")).collect()
}

/// A widget session for `identity` (what the host backend gets from `/v1/authkit/token`).
pub async fn session_token(app: &impl Server, identity: &str) -> String {
    let res = http()
        .post(format!("{}/v1/authkit/token", app.url()))
        .header("X-One-Secret", app.key().expose())
        .json(&serde_json::json!({ "identity": identity, "identityType": "user" }))
        .send()
        .await
        .expect("token request");
    assert_eq!(res.status(), 200, "session token");
    res.json::<plugboard_shared::TokenResponse>().await.expect("token answer").token
}

/// Connects `platform` with form fields through the widget API; answers the connection record.
pub async fn connect_fields(app: &TestApp, identity: &str, platform: &str, fields: serde_json::Value) -> plugboard_shared::ConnectionRecord {
    widget_connect(app, identity, platform, serde_json::json!({ "fields": fields })).await
}

/// Connects `platform` again with new form fields, updating the connection `key` in place.
pub async fn reconnect_fields(app: &TestApp, identity: &str, platform: &str, key: &str, fields: serde_json::Value) -> plugboard_shared::ConnectionRecord {
    widget_connect(app, identity, platform, serde_json::json!({ "fields": fields, "reconnect": key })).await
}

async fn widget_connect(app: &TestApp, identity: &str, platform: &str, body: serde_json::Value) -> plugboard_shared::ConnectionRecord {
    let token = session_token(app, identity).await;
    let res = http()
        .post(format!("{}/v1/widget/connect/{platform}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("connect request");
    assert_eq!(res.status(), 200, "connect {platform}");
    res.json().await.expect("a connection record")
}

/// Runs the whole OAuth flow of `mock-oauth` as the popup and the user would (start, authorize, consent, callback);
/// answers the connection record.
pub async fn connect_oauth(app: &TestApp, identity: &str) -> plugboard_shared::ConnectionRecord {
    let out = oauth_connect(app, identity, "mock-oauth", None, mock_consent).await;
    assert_eq!(out.status, 200, "callback: {}", out.page);
    out.connection()
}

/// The user allows access on the mock provider's consent page; answers where the provider sends the browser back.
pub async fn mock_consent(provider_url: String) -> String {
    let c = http();
    let page = c.get(&provider_url).send().await.expect("consent page").text().await.expect("html");
    let request = page.split(r#"name="request" value=""#).nth(1).and_then(|s| s.split('"').next()).expect("consent form");
    let origin = &provider_url[..provider_url.find("/authorize").expect("provider authorize URL")];
    let res = c
        .post(format!("{origin}/authorize/decision"))
        .form(&[("request", request), ("decision", "allow")])
        .send()
        .await
        .expect("decision");
    res.headers()["location"].to_str().expect("redirect back").to_owned()
}

/// Sends a request with exactly this request line (no client-side path normalisation, unlike reqwest);
/// answers the status code and body.
pub async fn raw_request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Sends `head` (a request's line and headers, `\r\n\r\n` included) and `partial` — less body than the head
/// announces — then nothing more; answers the status, the body and how long the answer took, once the server has
/// closed the connection (panics if it has not within 10 s).
pub async fn stalled_request(addr: SocketAddr, head: &str, partial: &[u8]) -> (u16, String, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write the head");
    s.write_all(partial).await.expect("write part of the body");
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server answers a stalled body and closes the connection within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body, started.elapsed())
}

/// A loopback address no one listens on yet, and its `http://` URL: for a server whose URL another party must
/// know before it starts (a provider's registered redirect URI).
pub fn free_addr() -> (SocketAddr, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let addr = l.local_addr().expect("bound");
    (addr, format!("http://{addr}"))
}

/// What the user and the host see of one OAuth connect.
#[derive(Debug)]
pub struct OAuthOutcome {
    /// The popup's callback page: HTTP status and text.
    pub status: u16,
    pub page: String,
    /// What the widget's poll of the flow answers.
    pub flow: plugboard_shared::FlowState,
    /// The session token the flow ran under.
    pub token: String,
}

impl OAuthOutcome {
    /// The connection record, when the flow connected.
    pub fn connection(&self) -> plugboard_shared::ConnectionRecord {
        self.flow.connection.clone().unwrap_or_else(|| panic!("the flow did not connect: {} {}", self.status, self.page))
    }
}

/// Runs an OAuth connect of `platform` as the widget, the popup and the user would: start (optionally as a
/// reconnect of `reconnect`), open the authorize link, let `provider` take the user through the provider (it gets
/// the provider's authorization URL and answers where the provider sends the browser back), then the callback.
pub async fn oauth_connect(
    app: &impl Server,
    identity: &str,
    platform: &str,
    reconnect: Option<&str>,
    provider: impl AsyncFnOnce(String) -> String,
) -> OAuthOutcome {
    let token = session_token(app, identity).await;
    let c = http();
    let body = match reconnect {
        Some(key) => serde_json::json!({ "reconnect": key }),
        None => serde_json::json!({}),
    };
    let res = c.post(format!("{}/v1/widget/oauth/{platform}/start", app.url())).bearer_auth(&token).json(&body).send().await.expect("start");
    assert_eq!(res.status(), 200, "start {platform}");
    let start: plugboard_shared::OAuthStart = res.json().await.expect("start answer");
    let (provider_url, cookie) = popup_authorize(&start).await;
    let back = provider(provider_url).await;
    let res = c.get(back).header("cookie", cookie).send().await.expect("callback");
    let status = res.status().as_u16();
    let page = res.text().await.expect("callback page");
    let flow: plugboard_shared::FlowState = c
        .get(format!("{}/v1/widget/oauth/flows/{}", app.url(), start.flow_id))
        .bearer_auth(&token)
        .send()
        .await
        .expect("flow")
        .json()
        .await
        .expect("flow state");
    OAuthOutcome { status, page, flow, token }
}

/// `POST /v1/widget/oauth/{platform}/start` with the session `token`, as the widget does; answers the flow's
/// link and proof.
pub async fn start_oauth(app: &impl Server, token: &str, platform: &str) -> plugboard_shared::OAuthStart {
    let res = http().post(format!("{}/v1/widget/oauth/{platform}/start", app.url())).bearer_auth(token).json(&serde_json::json!({})).send().await.expect("start");
    assert_eq!(res.status(), 200, "start {platform}");
    res.json().await.expect("start answer")
}

/// What the popup's authorize page does once its opener (the widget) hands it the flow's proof: `POST` the proof
/// to the authorize link; answers the provider URL and the `name=value` of the cookie binding the flow.
pub async fn popup_authorize(start: &plugboard_shared::OAuthStart) -> (String, String) {
    let res = http().post(&start.authorize_url).json(&serde_json::json!({ "proof": start.proof })).send().await.expect("authorize");
    assert_eq!(res.status(), 200, "the proof is accepted");
    let cookie = res.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("cookie pair").to_owned();
    let body: serde_json::Value = res.json().await.expect("authorize answer");
    (body["location"].as_str().expect("location").to_owned(), cookie)
}

/// A provider that grants at once: the authorization URL redirects straight back; answers where to.
pub async fn follow_redirect(url: String) -> String {
    let res = http().get(&url).send().await.expect("provider");
    assert!(res.status().is_redirection(), "the provider redirects back: {}", res.status());
    res.headers()["location"].to_str().expect("location").to_owned()
}

/// Registers `urls` as the test project's `returnUrls` (the pages a same-tab sign-in may come back to), keeping
/// its other settings; every node sees the change within the 2 s its project views are remembered.
pub async fn register_return_urls(app: &TestApp, urls: &[&str]) {
    configure_project(app, |s| s.return_urls = urls.iter().map(|u| u.to_string()).collect()).await;
}

/// Changes the test project's settings with `change` (checked as a config file's are), as an operator would;
/// every node sees the change within the 2 s its project views are remembered.
pub async fn configure_project(app: &TestApp, change: impl FnOnce(&mut plugboard::projects::ProjectSettings)) {
    let json = app.store.project_config("test-project").await.expect("readable").unwrap_or_else(|| "{}".into());
    let mut settings: plugboard::projects::ProjectSettings = serde_json::from_str(&json).expect("settings JSON");
    change(&mut settings);
    let builtin = plugboard::catalog::Catalog::builtin().expect("the catalog");
    settings.validate("test-project", &builtin).expect("valid settings");
    app.store.set_project_config("test-project", &serde_json::to_string(&settings).expect("JSON")).await.expect("stored");
    tokio::time::sleep(plugboard::store::HOT_TTL + std::time::Duration::from_millis(200)).await;
}

/// tests/seeds/host.mjs as a child process; killed when dropped.
pub struct SeedHost {
    pub url: String,
    child: Child,
}

impl SeedHost {
    /// Starts the host on `bind` (an IP, or `ip:port`) for `app`; answers once it listens.
    pub fn start(app: &TestApp, bind: &str) -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/host.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .args([&app.url, app.key.expose(), bind])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (scripts/setup-test installs it)");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("piped")), &mut line).expect("the host says where it listens");
        let url = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("host did not start: {line:?}")).to_owned();
        Self { url, child }
    }
}

impl Drop for SeedHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a same-tab OAuth sign-in of `mock-oauth` for the session `token`, as a widget on a page of `origin` would,
/// coming back to `return_to` (with `in_state`, `@withone/auth`'s mode: the origin's root, the package naming the
/// page later in `state`); answers the server's response as it is.
pub async fn start_same_tab(app: &impl Server, token: &str, origin: &str, return_to: &str, in_state: bool) -> reqwest::Response {
    http()
        .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url()))
        .bearer_auth(token)
        .header("Plugboard-Origin", origin)
        .json(&serde_json::json!({ "display": "page", "returnTo": return_to, "returnInState": in_state }))
        .send()
        .await
        .expect("an answer")
}
