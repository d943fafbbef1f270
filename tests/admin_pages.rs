//! The HTML admin pages in a real browser (headless Debian Chromium through
//! chromedriver): sign in, create a backup with the form, watch its job page
//! reload itself until the job completes, and check the DR status page
//! shows every stage; its screenshot goes to `target/screenshots/status.png`
//! (and to `docs/status-page.png` with `DRHOST_UPDATE_SCREENSHOT=1`).
//! Also: the plugins resource shows grants but never secrets, and a page on
//! another site cannot sign the browser in to an account of its choosing.

use crate::support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::webdriver::{ChromeDriver, Session, wait_for};
use support::{Deployment, PASSCODE, PASSWORD, TestHost};

const DESCRIPTION: &str = "<script>alert('xss')</script> nightly";

/// Clicks the link `text` and waits for the page whose title ends with `path`.
fn follow(browser: &Session, text: &str, path: &str) {
    browser.link(text).click();
    let title = wait_for(Duration::from_secs(10), || {
        Some(browser.title()).filter(|title| title.ends_with(path))
    });
    assert!(
        title.is_some(),
        "after clicking '{text}': {} ({})",
        browser.current_url(),
        browser.title()
    );
}

/// The value cell of the first row headed `key` on the current page.
fn field(browser: &Session, key: &str) -> Option<String> {
    browser
        .try_find("xpath", &format!("(//tr[th='{key}']/td)[1]"))?
        .text()
}

#[test]
fn browser_signs_in_backs_up_and_shows_the_status() {
    let started = Instant::now();
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let driver = ChromeDriver::start();
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = driver.session(profile.path());

    // Sign in: the form posts to generateToken, whose HTML answer sends the
    // browser on to the admin root with the token.
    browser.goto(&format!("{}/sharing/rest/generateToken", host.base));
    browser.css("#username").send_keys("admin");
    browser.css("#password").send_keys(PASSWORD);
    browser.css("#login button[type=submit]").click();
    let signed_in = wait_for(Duration::from_secs(10), || {
        Some(browser.title()).filter(|title| title == "/arcgis/admin")
    });
    assert!(signed_in.is_some(), "not signed in: {}", browser.source());
    assert!(browser.current_url().contains("token="));

    // Down to the default store's backups by the pages' own links (which
    // must carry the token).
    for (link, path) in [
        ("system", "/admin/system"),
        ("disasterrecovery", "/system/disasterrecovery"),
        ("stores", "/disasterrecovery/stores"),
        ("default", "/stores/default"),
        ("backups", "/default/backups"),
    ] {
        follow(&browser, link, path);
    }

    // Create a backup with the form.
    browser.css("#create-name").send_keys("from-the-browser");
    browser.css("#create-passcode").send_keys(PASSCODE);
    browser.css("#create-description").send_keys(DESCRIPTION);
    browser.css("#op-create button[type=submit]").click();
    let answered = wait_for(Duration::from_secs(10), || {
        Some(browser.title()).filter(|title| title.ends_with("/backups/create"))
    });
    assert!(answered.is_some(), "no answer page: {}", browser.source());
    assert_eq!(field(&browser, "status").as_deref(), Some("SUBMITTED"));
    let jobid = field(&browser, "jobid").expect("jobid on the answer page");

    // The job page reloads itself until the job is over.
    follow(&browser, &format!("Job {jobid}"), &format!("/jobs/{jobid}"));
    let job_url = browser.current_url();
    let mut seen = Vec::new();
    let finished = wait_for(Duration::from_secs(20), || {
        let status = field(&browser, "status")?;
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        matches!(status.as_str(), "COMPLETED" | "FAILED").then_some(status)
    });
    eprintln!("job page showed {seen:?}");
    assert_eq!(
        finished.as_deref(),
        Some("COMPLETED"),
        "{}",
        browser.source()
    );
    assert_eq!(browser.current_url(), job_url, "the test did not navigate");
    assert!(
        !browser.source().contains("http-equiv=\"refresh\""),
        "a finished job's page must stop reloading"
    );

    // The DR status page shows every stage of the last job.
    follow(&browser, "DR status", "/disasterrecovery/status");
    let status = browser.css("section.value").text().expect("status text");
    for expected in [
        "Stage Object store",
        "Stage system configuration",
        "success",
        "from-the-browser",
    ] {
        assert!(
            status.contains(expected),
            "{expected} missing in:\n{status}"
        );
    }
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshots dir");
    std::fs::write(screenshots.join("status.png"), &png).expect("write screenshot");
    if std::env::var_os("DRHOST_UPDATE_SCREENSHOT").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/status-page.png");
        std::fs::write(docs, &png).expect("write docs screenshot");
    }

    // The description, hostile on purpose, is shown as text and never runs.
    follow(&browser, "Stores", "/disasterrecovery/stores");
    follow(&browser, "default", "/stores/default");
    follow(&browser, "backups", "/default/backups");
    follow(&browser, "from-the-browser", "/backups/from-the-browser");
    let backup = browser.css("section.value").text().expect("backup text");
    assert!(backup.contains(DESCRIPTION), "{backup}");
    assert_eq!(browser.alert_text(), None, "a script ran");

    drop(browser);
    drop(driver);
    eprintln!("browser test took {:?}", started.elapsed());
}

/// Login CSRF in a real browser: a page elsewhere (here a `data:` page,
/// an opaque origin) whose form posts credentials to `generateToken` with
/// `f=html` gets a 403 page, not a signed-in browser.
#[test]
fn a_page_on_another_site_cannot_sign_the_browser_in() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let driver = ChromeDriver::start();
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = driver.session(profile.path());
    let forged = format!(
        "<!DOCTYPE html><title>elsewhere</title>\
         <form id=f method=post action='{}/sharing/rest/generateToken'>\
         <input type=hidden name=username value=admin>\
         <input type=hidden name=password value='{PASSWORD}'>\
         <input type=hidden name=f value=html><button type=submit>go</button></form>",
        host.base
    );
    let encoded: String = forged
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    browser.goto(&format!("data:text/html,{encoded}"));
    browser.css("#f button").click();
    let answered = wait_for(Duration::from_secs(10), || {
        Some(browser.source()).filter(|page| page.contains("Error 403"))
    });
    assert!(answered.is_some(), "not refused: {}", browser.source());
    assert!(!browser.current_url().contains("token="));
    assert_ne!(browser.title(), "/arcgis/admin");
}

#[test]
fn plugins_resource_shows_grants_but_no_secrets() {
    let deployment = Deployment::new();
    deployment.populate();
    let secret_file = deployment.path().join("stage-password");
    std::fs::write(&secret_file, "file-secret-4711\n").expect("password file");
    let extra = format!(
        r#"
[[stage]]
name = "Stage with secrets"
plugin = "config-fs"
source = "{config}"
password_file = "{secret}"
http_connect = ["https://key-id:url-secret-0815@s3.example.com/bucket"]
tcp_connect = ["127.0.0.1:5432"]
config = {{ api_key = "config-secret-1234" }}
limits = {{ memory_mib = 64 }}
"#,
        config = deployment.config_dir().display(),
        secret = secret_file.display(),
    );
    let host = TestHost::start(&deployment, &deployment.config_toml(&extra));

    let (status, body) = host.get("/system/plugins");
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    for secret in [
        "file-secret-4711",
        "url-secret-0815",
        "key-id",
        "config-secret-1234",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let plugins = body["plugins"].as_array().expect("plugins");
    let names: Vec<&str> = plugins.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Stage Object store",
            "Stage system configuration",
            "Stage with secrets",
            "store-fs",
            "store-s3"
        ]
    );
    for plugin in plugins {
        assert_eq!(plugin["witPackage"], "drhost:plugin@0.2.1", "{plugin}");
        let digest = plugin["digest"].as_str().expect("digest");
        assert!(
            digest.starts_with("sha256:") && digest.len() == 7 + 64,
            "{digest}"
        );
        assert!(plugin["version"].as_str().is_some_and(|v| !v.is_empty()));
    }
    let objects = &plugins[0];
    assert_eq!(objects["kind"], "stage");
    assert_eq!(objects["stageKind"], "object-store");
    assert_eq!(objects["plugin"], "object-store-fs");
    let dirs = &objects["capabilities"]["directories"];
    assert_eq!(dirs[0]["access"], "ro");
    assert_eq!(dirs[0]["during"], "backup");
    assert_eq!(dirs[1]["access"], "rw");
    assert_eq!(dirs[1]["during"], "restore");
    let secrets = &plugins[2]["capabilities"];
    assert_eq!(secrets["password"], "from a file");
    assert_eq!(secrets["httpConnect"][0], "s3.example.com:443");
    assert_eq!(secrets["tcpConnect"][0], "127.0.0.1:5432");
    assert_eq!(secrets["limits"]["memoryMiB"], 64);
    let store_fs = &plugins[3];
    assert_eq!(store_fs["kind"], "store-adapter");
    assert_eq!(store_fs["capabilities"]["directories"][0]["access"], "rw");

    let (status, one) = host.get("/system/plugins/Stage%20with%20secrets");
    assert_eq!(status, 200, "{one}");
    assert_eq!(one, plugins[2]);
    let (status, _) = host.get("/system/plugins/nope");
    assert_eq!(status, 404);
}
