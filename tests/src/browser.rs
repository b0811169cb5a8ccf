//! Headless Chromium driven through chromedriver, as the browser tests and the widget benchmark use it: pages,
//! frames, popups, scripts, axe-core's accessibility check and screenshots.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::eventually;

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
