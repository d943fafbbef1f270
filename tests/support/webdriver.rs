//! A headless Chromium driven through chromedriver's W3C WebDriver HTTP API,
//! with the few JSON calls the admin-page tests need: no WebDriver crate.
//!
//! Debian's `chromium` and `chromium-driver` packages provide the binaries
//! (`.ci/test` installs them).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C key of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver, killed when dropped.
pub struct ChromeDriver {
    child: Child,
    pub url: String,
}

impl ChromeDriver {
    /// Starts chromedriver on a free loopback port and waits until it is ready.
    pub fn start() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} not found; install Debian's `chromium` and `chromium-driver` \
                 packages (`.ci/test` does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let ready = wait_for(Duration::from_secs(20), || {
            let body: Value = ureq::get(&format!("{}/status", driver.url))
                .call()
                .ok()?
                .into_json()
                .ok()?;
            body["value"]["ready"].as_bool().filter(|ready| *ready)
        });
        assert!(ready.is_some(), "chromedriver did not become ready");
        driver
    }

    /// A new headless browser with its own profile in `profile`.
    pub fn session(&self, profile: &Path) -> Session {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,1300",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let value = call("POST", &format!("{}/session", self.url), Some(capabilities))
            .unwrap_or_else(|e| panic!("new WebDriver session: {e}"));
        let id = value["sessionId"].as_str().expect("sessionId").to_string();
        Session {
            url: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser; closed when dropped.
pub struct Session {
    url: String,
}

/// An element of the current page.
pub struct Element<'a> {
    session: &'a Session,
    id: String,
}

impl Session {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(method, &format!("{}{path}", self.url), body)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})))
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    pub fn current_url(&self) -> String {
        self.call("GET", "/url", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn title(&self) -> String {
        self.call("GET", "/title", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn source(&self) -> String {
        self.call("GET", "/source", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The first element matching `value` under strategy `using` (`css
    /// selector`, `link text`, `partial link text`, `xpath`), if any.
    pub fn try_find(&self, using: &str, value: &str) -> Option<Element<'_>> {
        let found = self
            .call(
                "POST",
                "/element",
                Some(json!({"using": using, "value": value})),
            )
            .ok()?;
        Some(Element {
            session: self,
            id: found[ELEMENT_KEY].as_str()?.to_string(),
        })
    }

    /// As [`Session::try_find`], waiting up to 10 s for the element.
    pub fn find(&self, using: &str, value: &str) -> Element<'_> {
        wait_for(Duration::from_secs(10), || self.try_find(using, value)).unwrap_or_else(|| {
            panic!(
                "no element {using}={value} on {} ({}):\n{}",
                self.current_url(),
                self.title(),
                self.source()
            )
        })
    }

    pub fn css(&self, selector: &str) -> Element<'_> {
        self.find("css selector", selector)
    }

    pub fn link(&self, text: &str) -> Element<'_> {
        self.find("link text", text)
    }

    /// The PNG of the visible page.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let value = self
            .call("GET", "/screenshot", None)
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("base64 PNG"))
            .expect("valid base64")
    }

    /// The text of an open `alert()`, if a script managed to open one.
    pub fn alert_text(&self) -> Option<String> {
        self.call("GET", "/alert/text", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = call("DELETE", &self.url, None);
    }
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    pub fn send_keys(&self, text: &str) {
        self.session
            .call("POST", &self.path("/value"), Some(json!({"text": text})))
            .unwrap_or_else(|e| panic!("send keys: {e}"));
    }

    pub fn click(&self) {
        self.session
            .call("POST", &self.path("/click"), Some(json!({})))
            .unwrap_or_else(|e| panic!("click: {e}"));
    }

    /// The rendered text; `None` if the element went away (page reloaded).
    pub fn text(&self) -> Option<String> {
        self.session
            .call("GET", &self.path("/text"), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    }
}

/// One WebDriver call: the `value` of the answer, or the error's message.
fn call(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let request = ureq::request(method, url).timeout(Duration::from_secs(30));
    let response = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match response {
        Ok(response) => response
            .into_json::<Value>()
            .map(|mut v| v["value"].take())
            .map_err(|e| e.to_string()),
        Err(ureq::Error::Status(code, response)) => {
            let body: Value = response.into_json().unwrap_or_default();
            Err(format!(
                "HTTP {code}: {} {}",
                body["value"]["error"], body["value"]["message"]
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Polls `check` every 100 ms until it answers or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
