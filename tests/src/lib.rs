//! Test harness: the real server on a loopback port with a fresh SQLite file, the demo host app on a second
//! origin (127.0.0.2), and headless Chromium driven through chromedriver.

use std::{
    future::Future,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use plugboard::{
    app::Application,
    demo::{self, provider::MockProvider},
    config::Settings,
    keys::{Environment, SecretKey},
    store::SharedStore,
};
use tokio::{net::TcpListener, sync::oneshot};

pub use api::Server;
pub use browser::Browser;
pub use oauth::*;
pub use fantoccini;

pub mod api;
pub mod browser;
pub mod db;
pub mod fixtures;
pub mod oauth;
pub mod oidc;
pub mod operator;
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
    pub store: SharedStore,
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
        alert_interval_secs: 60,
        refresh_concurrency: 16,
        retry_base_ms: 10_000,
        webhook_give_up_secs: 259_200,
        log_retention_days: 7,
        call_log_buffer: 10_000,
        call_log_rate: 1000,
        limits: Default::default(),
        sso: Default::default(),
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
    app.backend(method, &format!("/v1/passthrough/{path}")).header("X-One-Connection-Key", key)
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
    let res = app.mint_session("", &serde_json::json!({ "identity": identity, "identityType": "user" })).await;
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
