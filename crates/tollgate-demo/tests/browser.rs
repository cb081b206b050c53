//! The console in a real headless Chromium, driven through chromedriver's W3C WebDriver API,
//! over a generated reseller: sign in, open a flagged customer, suspend its subscription and
//! find it on the audit trail; a viewer gets no buttons; another tenant's customer is not
//! found. Screenshots of the main pages go to `$CARGO_TARGET_DIR/screenshots` (or
//! `target/screenshots`).
//!
//! Skipped only when Chromium is not installed and `TOLLGATE_CI` is unset; `.ci/run` installs
//! Debian's `chromium` and `chromium-driver`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use base64::Engine;
use serde_json::{Value, json};
use tollgate_core::clock::ManualClock;
use tollgate_demo::{Demo, Options, generate};
use tollgate_server::{AppState, Application, ServerConfig};
use tollgate_store::testing;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    console: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path}: {value}");
        value["value"].clone()
    }

    async fn open(&self, path: &str) {
        let url = format!("{}{path}", self.console);
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn count(&self, css: &str) -> usize {
        self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .await
        .as_array()
        .map_or(0, Vec::len)
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Polls the title for up to ten seconds: WebDriver may return from a click before the
    /// navigation it started has finished, and on a loaded machine that gap is visible.
    async fn wait_for_title(&self, expected: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let title = self.title().await;
            if title == expected || std::time::Instant::now() > deadline {
                return title;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Polls the page source for up to ten seconds until it contains `text`.
    async fn wait_for_text(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let page = self.source().await;
            if page.contains(text) || std::time::Instant::now() > deadline {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    }

    async fn sign_in(&self, key: &str) {
        self.call(reqwest::Method::DELETE, "/cookie", None).await;
        self.open("/console/sign-in").await;
        self.type_into("#api_key", key).await;
        self.click("form button[type=submit]").await;
        assert_eq!(
            self.wait_for_title("Overview · Tollgate console").await,
            "Overview · Tollgate console"
        );
    }
}

async fn start_driver(chromedriver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(status) = http.get(format!("{}/status", driver.base)).send().await
            && let Ok(value) = status.json::<Value>().await
            && value["value"]["ready"] == true
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_works_a_flagged_customer_in_chromium() {
    let (Some(chromium), Some(chromedriver)) = (
        find(&["chromium", "chromium-browser", "google-chrome"]),
        find(&["chromedriver", "chromium-driver"]),
    ) else {
        assert!(
            std::env::var_os("TOLLGATE_CI").is_none(),
            "CI must run the browser tests: install chromium and chromium-driver"
        );
        eprintln!("skipped: chromium or chromedriver is not installed");
        return;
    };

    let db = testing::sqlite().await;
    let end = "2026-11-02T00:00:00Z".parse().unwrap();
    let small = |slug: &str, days, honest| Options {
        slug: slug.into(),
        ..Options::ending(end, days, honest)
    };
    let demo: Demo = generate(db.store.clone(), &small("demo", 24, 24), |_| {})
        .await
        .unwrap();
    let other = generate(db.store.clone(), &small("other", 8, 3), |_| {})
        .await
        .unwrap();
    let clock = ManualClock::new(demo.ended_at);
    let state = AppState::new(
        db.store.clone(),
        Arc::new(clock),
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        },
    );
    let app = Application::bind(state).await.unwrap();
    let console = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));

    let driver = start_driver(&chromedriver).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/session", driver.base))
        .json(&json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1600"]
            }
        }}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
        .to_owned();
    let browser = Browser {
        http,
        session,
        base: driver.base.clone(),
        console,
    };

    browser.sign_in(&demo.keys.analyst).await;
    browser.screenshot("overview").await;
    browser.open("/console/queues").await;
    assert_eq!(browser.title().await, "Queues · Tollgate console");
    browser.screenshot("queues").await;
    // Held payment methods wait in the queue (the ring's shared card, the card tester's): decline
    // the newest, with a note.
    let held = browser.count("#held form.review").await;
    assert!(held > 0, "held payment methods are listed");
    browser
        .click("#held form.review select[name=outcome] option[value=decline]")
        .await;
    browser
        .type_into(
            "#held form.review input[name=note]",
            "Declined after calling the customer",
        )
        .await;
    browser.click("#held form.review button[type=submit]").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while browser.count("#held form.review").await != held - 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the reviewed card left the queue"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.open("/console/rules").await;
    browser.screenshot("rules").await;
    browser.open("/console/collections").await;
    browser.screenshot("collections").await;

    // The hijacked account: flagged by the anomaly detector for GPU mining.
    let hijacked = demo.cast.hijacked.clone().unwrap();
    browser
        .open(&format!("/console/customers/{hijacked}"))
        .await;
    let page = browser.source().await;
    assert!(
        page.contains("usage_anomaly"),
        "the alert is on the page: {page}"
    );
    browser.screenshot("customer").await;
    browser
        .type_into("#subscriptions input[name=reason]", "GPU crypto mining")
        .await;
    browser.click("#subscriptions button[type=submit]").await;
    // The form asks for confirmation (progressive enhancement); accept it.
    let url = format!("{}/session/{}/alert/accept", driver.base, browser.session);
    let _ = browser.http.post(url).json(&json!({})).send().await;
    let page = browser.wait_for_text("subscription.suspended").await;
    assert!(
        page.contains("subscription.suspended"),
        "on the audit trail"
    );
    assert!(page.contains("GPU crypto mining"));
    browser.screenshot("customer-suspended").await;

    // The ring: linked customers drawn as a graph.
    let ring = demo.cast.ring.last().unwrap();
    browser.open(&format!("/console/customers/{ring}")).await;
    assert!(browser.source().await.contains("same payment method"));
    browser.screenshot("customer-ring").await;

    // One of the ring's decisions, explained: the links the rules saw are on it.
    browser.click("#decisions tbody a").await;
    let page = browser.wait_for_text("Features the rules saw").await;
    assert!(page.contains("links.card_customers"), "{page}");
    browser.screenshot("decision").await;

    browser.sign_in(&demo.keys.viewer).await;
    browser
        .open(&format!("/console/customers/{hijacked}"))
        .await;
    assert_eq!(browser.count("#subscriptions form").await, 0);
    assert_eq!(
        browser.count("button[type=submit]").await,
        1,
        "only sign-out"
    );
    let theirs = &other.cast.honest[0];
    browser.open(&format!("/console/customers/{theirs}")).await;
    assert_eq!(browser.title().await, "Not found · Tollgate console");

    browser.call(reqwest::Method::DELETE, "", None).await;
}
