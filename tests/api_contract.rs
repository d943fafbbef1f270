//! The admin API as existing client scripts use it: token forms, errors in
//! the API's format, formats, stores, settings and jobs.

use crate::support;

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::clients::{Answer, login_from, loopback};
use support::{Deployment, PASSCODE, TestHost};

const STATUS: &str = "/system/disasterrecovery/status";

#[test]
fn tokens_are_required_checked_and_accepted_in_every_documented_form() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));

    let (code, body) = host.get_with(STATUS, None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(body["error"]["code"], 499, "{body}");

    let (code, body) = host.get_with(STATUS, Some("not-a-token"));
    assert_eq!(code, 401, "{body}");
    assert_eq!(body["error"]["code"], 498, "{body}");

    let mut tampered = host.token().to_string();
    let last = tampered
        .pop()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .unwrap_or('A');
    tampered.push(last);
    let (code, body) = host.get_with(STATUS, Some(&tampered));
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (401, json!(498)),
        "{body}"
    );

    let url = format!("{}/admin{STATUS}?f=json", host.base);
    for request in [
        ureq::get(&format!("{url}&token={}", host.token())),
        ureq::get(&url).set("X-Esri-Authorization", &format!("Bearer {}", host.token())),
        ureq::get(&url).set("Authorization", &format!("Bearer {}", host.token())),
    ] {
        let response = request.call().expect("accepted");
        assert_eq!(response.status(), 200);
    }
    // Token as a form field of a POST.
    let response = ureq::post(&format!(
        "{}/admin/system/disasterrecovery/settings/update",
        host.base
    ))
    .send_form(&[
        ("settings", r#"{"timeoutInSeconds": 3600}"#),
        ("f", "json"),
        ("token", host.token()),
    ])
    .expect("post with body token");
    assert_eq!(response.status(), 200);

    let (code, body) = host.post_raw(
        "/sharing/rest/generateToken",
        &[
            ("username", "admin"),
            ("password", "wrong"),
            ("client", "requestip"),
            ("f", "json"),
        ],
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[test]
fn short_passcodes_unknown_stores_and_bad_settings_are_clear_errors() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));

    let (code, body) = host.post(
        "/system/disasterrecovery/stores/default/backups/create",
        &[("name", "b"), ("passcode", "1234567")],
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "The passcode must be at least eight characters in length."
    );

    let (code, body) = host.get("/system/disasterrecovery/stores/nope/backups");
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope")),
        "{body}"
    );

    let (code, body) = host.post(
        "/system/disasterrecovery/settings/update",
        &[("settings", "{not json")],
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("settings")),
        "{body}"
    );

    for bad_name in ["../etc", "a/b", "x".repeat(300).as_str(), "nul\u{0}"] {
        let (code, body) = host.post(
            "/system/disasterrecovery/stores/default/backups/create",
            &[("name", bad_name), ("passcode", support::PASSCODE)],
        );
        assert_eq!(code, 400, "{bad_name:?}: {body}");
    }
}

#[test]
fn stores_can_be_registered_listed_made_default_and_unregistered() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));

    let (code, body) = host.post(
        "/system/disasterrecovery/stores/register",
        &[
            ("storeName", "second"),
            ("settings", r#"{"type":"HOSTED"}"#),
            ("isDefault", "False"),
        ],
    );
    assert_eq!(
        (code, body.clone()),
        (200, json!({"status": "success"})),
        "{body}"
    );
    let (_, stores) = host.get("/system/disasterrecovery/stores");
    let names: Vec<_> = stores["backupStores"]
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, [json!("default"), json!("second")]);

    let (code, _) = host.post(
        "/system/disasterrecovery/stores/second/update",
        &[("settings", r#"{"default": true}"#)],
    );
    assert_eq!(code, 200);
    let (_, second) = host.get("/system/disasterrecovery/stores/second");
    assert_eq!(second["default"], true, "{second}");
    let (code, body) = host.post("/system/disasterrecovery/stores/second/validate", &[]);
    assert_eq!(
        (code, body["isReady"].clone()),
        (200, json!(true)),
        "{body}"
    );

    let (code, body) = host.post(
        "/system/disasterrecovery/stores/register",
        &[
            ("storeName", "evil"),
            ("settings", r#"{"type":"HOSTED","rootDir":"/etc"}"#),
        ],
    );
    assert_eq!(code, 400, "{body}");

    let (code, _) = host.post("/system/disasterrecovery/stores/second/unregister", &[]);
    assert_eq!(code, 200);
    let (code, _) = host.get("/system/disasterrecovery/stores/second");
    assert_eq!(code, 404);
}

#[test]
fn formats_settings_and_jobs() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));

    let pretty = ureq::get(&format!("{}/admin{STATUS}?f=pjson", host.base))
        .set("Authorization", &format!("Bearer {}", host.token()))
        .call()
        .expect("pjson")
        .into_string()
        .expect("body");
    assert!(pretty.contains("\n  "), "{pretty}");
    let html = ureq::get(&format!("{}/admin{STATUS}", host.base))
        .set("Authorization", &format!("Bearer {}", host.token()))
        .call()
        .expect("html");
    assert!(html.content_type().contains("html"));

    let (code, body) = host.post(
        "/system/disasterrecovery/settings/update",
        &[("settings", r#"{"stagingVolumeConfig":{"storageClass":"default","size":"64Gi","provisioningType":"DYNAMIC"},"timeoutInSeconds":7200}"#)],
    );
    assert_eq!(code, 200, "{body}");
    let (_, settings) = host.get("/system/disasterrecovery/settings");
    assert_eq!(settings["timeoutInSeconds"], 7200);
    assert_eq!(settings["stagingVolumeConfig"]["size"], "64Gi");

    let (code, jobs) = host.get("/jobs");
    assert_eq!((code, jobs.clone()), (200, json!({"jobs": []})), "{jobs}");
    let (code, body) = host.get("/jobs/jdoesnotexist");
    assert_eq!(code, 404, "{body}");
}

/// Roles from `[[user]]`: a viewer reads, an operator also runs and checks
/// backups, and neither restores, touches stores or changes settings.
#[test]
fn viewers_read_operators_back_up_and_only_administrators_restore() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut users = String::new();
    for (name, role) in [("watcher", "viewer"), ("nightly", "operator")] {
        let file = deployment.path().join(format!("{name}.pass"));
        std::fs::write(&file, format!("{name}-password-123\n")).expect("password file");
        users.push_str(&format!(
            "\n[[user]]\nname = \"{name}\"\nrole = \"{role}\"\npassword_file = \"{}\"\n",
            file.display()
        ));
    }
    let host = TestHost::start(&deployment, &deployment.config_toml(&users));
    host.backup_ok("b1");
    let token = |name: &str| {
        let (code, body) = host.generate_token(name, &format!("{name}-password-123"));
        assert_eq!(code, 200, "{body}");
        body["token"].as_str().expect("token").to_string()
    };
    let (viewer, operator) = (token("watcher"), token("nightly"));
    let backups = "/system/disasterrecovery/stores/default/backups";
    let create = [
        ("name", "b2"),
        ("passcode", PASSCODE),
        ("retentionDate", "-1"),
    ];

    for who in [&viewer, &operator] {
        let (code, body) = host.get_with(STATUS, Some(who));
        assert_eq!(code, 200, "{body}");
        for (path, form) in [
            (
                format!("{backups}/b1/restore"),
                vec![("passcode", PASSCODE)],
            ),
            (
                "/system/disasterrecovery/stores/default/unregister".to_string(),
                vec![],
            ),
            (
                "/system/disasterrecovery/settings/update".to_string(),
                vec![("settings", "{}")],
            ),
        ] {
            let (code, body) = host.post_as(who, &path, &form);
            assert_eq!(code, 403, "{path}: {body}");
        }
    }
    let (code, body) = host.post_as(&viewer, &format!("{backups}/create"), &create);
    assert_eq!(code, 403, "{body}");

    let (code, body) = host.post_as(&operator, &format!("{backups}/create"), &create);
    assert_eq!(code, 200, "{body}");
    let job = host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["username"], "nightly", "{job}");
    let (code, body) = host.post_as(
        &operator,
        &format!("{backups}/b2/verify"),
        &[("passcode", PASSCODE)],
    );
    assert_eq!(code, 200, "{body}");
    host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    // The administrator still may.
    assert_eq!(host.restore_job("b2")["status"], "COMPLETED");
}

/// Repeated failed logins for a user are slowed down (HTTP 429 with
/// Retry-After), even with the right password, until the delay has passed.
#[test]
fn repeated_failed_logins_are_slowed_down() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    for _ in 0..3 {
        let (code, body) = host.generate_token("admin", "wrong-password");
        assert_eq!(code, 400, "{body}");
    }
    let (code, body) = host.generate_token("admin", support::PASSWORD);
    assert_eq!(code, 429, "{body}");
    assert!(body.to_string().contains("try again"), "{body}");
    // Another user's budget is its own, and unknown users are throttled alike.
    let (code, _) = host.generate_token("someone", "wrong-password");
    assert_eq!(code, 400);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, body) = host.generate_token("admin", support::PASSWORD);
    assert_eq!(code, 200, "{body}");
    // Success resets the count.
    let (code, _) = host.generate_token("admin", "wrong-password");
    assert_eq!(code, 400);
}

/// 300 simultaneous wrong guesses from one address get a handful of
/// password checks, not 300; the real user at another address signs in at
/// once. Floods of 300 logins with unknown names, from one address or from
/// 300, do not hold up an administrator signing in from where they did
/// before (the harness's login from 127.0.0.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_and_login_floods_neither_get_through_nor_hold_up_real_users() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let base = host.base.clone();
    let statuses = |tasks: Vec<tokio::task::JoinHandle<Answer>>| async move {
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.expect("task").status);
        }
        statuses
    };
    let count = |statuses: &[u16], status: u16| statuses.iter().filter(|s| **s == status).count();

    // The budget is 3 free failures, then one more each time the doubling
    // delay (1 s, 2 s, 4 s...) has passed: on a slow machine a burst can
    // outlast the first delays, and those checks are the design, not a leak.
    let burst_started = Instant::now();
    let allowed = |elapsed: Duration| {
        3 + (1..=6)
            .filter(|k| Duration::from_secs((1 << k) - 1) <= elapsed)
            .count()
    };
    let guesses = (0..300)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                login_from(&base, loopback(0, 5), "admin", &format!("guess-{i}")).await
            })
        })
        .collect();
    let guesses = statuses(guesses).await;
    let checked = count(&guesses, 400);
    assert_eq!(checked + count(&guesses, 429), 300, "{guesses:?}");
    let burst = burst_started.elapsed();
    assert!(
        checked <= allowed(burst),
        "{checked} of 300 guesses were checked in {burst:?}"
    );
    // Guesses the gate turned away cost nothing, so a few more may be
    // checked later, up to the three free failures in all.
    let mut more = 0;
    while login_from(&base, loopback(0, 5), "admin", "another-guess")
        .await
        .status
        == 400
    {
        more += 1;
    }
    let burst = burst_started.elapsed();
    assert!(
        checked + more <= allowed(burst),
        "{checked} + {more} guesses were checked in {burst:?}"
    );
    let answer = login_from(&base, loopback(0, 5), "admin", support::PASSWORD).await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert!(answer.header("retry-after").is_some(), "{answer:?}");
    let started = Instant::now();
    let answer = login_from(&base, loopback(0, 6), "admin", support::PASSWORD).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    for distributed in [false, true] {
        let flood = (0..300u16)
            .map(|i| {
                let base = base.clone();
                let from = if distributed {
                    loopback(1 + (i / 200) as u8, 1 + (i % 200) as u8)
                } else {
                    loopback(0, 9)
                };
                tokio::spawn(async move {
                    login_from(&base, from, &format!("nobody{i}"), "whatever-pw").await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let answer = login_from(&base, loopback(0, 1), "admin", support::PASSWORD).await;
        let took = started.elapsed();
        let flood = statuses(flood).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(
            took < Duration::from_secs(2),
            "distributed={distributed}: {took:?}"
        );
        assert_eq!(count(&flood, 400) + count(&flood, 429), 300, "{flood:?}");
        println!(
            "flood from {}: {} checked, {} refused; admin signed in in {took:?}",
            if distributed {
                "300 addresses"
            } else {
                "one address"
            },
            count(&flood, 400),
            count(&flood, 429)
        );
    }
}

/// Someone guessing the administrator's password from one address every
/// 0.1 s never keeps the administrator, signing in from elsewhere, out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guesser_at_one_address_never_keeps_the_user_out_elsewhere() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let base = host.base.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let guesser = {
        let (base, stop) = (base.clone(), stop.clone());
        tokio::spawn(async move {
            let mut refused = 0;
            while !stop.load(Ordering::Relaxed) {
                let answer = login_from(&base, loopback(0, 7), "admin", "a-wrong-guess").await;
                refused += usize::from(answer.status == 429);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            refused
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..25 {
        let answer = login_from(&base, loopback(0, 8), "admin", support::PASSWORD).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(
        guesser.await.expect("guesser") > 10,
        "the guesser was not slowed"
    );
}

/// Users are what the configuration says: a user removed from it is gone
/// after a restart, tokens and all, and a changed password revokes the
/// user's tokens; users left alone keep theirs.
#[test]
fn removed_users_and_changed_passwords_lose_their_tokens_at_restart() {
    let deployment = Deployment::new();
    let users = |list: &[(&str, &str, &str)]| {
        let mut toml = String::new();
        for (name, role, password) in list {
            let file = deployment.path().join(format!("{name}.pass"));
            std::fs::write(&file, format!("{password}\n")).expect("password file");
            toml.push_str(&format!(
                "\n[[user]]\nname = \"{name}\"\nrole = \"{role}\"\npassword_file = \"{}\"\n",
                file.display()
            ));
        }
        deployment.config_toml(&toml)
    };
    let mut host = TestHost::start(
        &deployment,
        &users(&[
            ("ops", "operator", "ops-password-1"),
            ("gone", "viewer", "gone-password-1"),
            ("kept", "viewer", "kept-password-1"),
        ]),
    );
    let token = |host: &TestHost, name: &str, password: &str| {
        let (code, body) = host.generate_token(name, password);
        assert_eq!(code, 200, "{body}");
        body["token"].as_str().expect("token").to_string()
    };
    let ops = token(&host, "ops", "ops-password-1");
    let gone = token(&host, "gone", "gone-password-1");
    let kept = token(&host, "kept", "kept-password-1");
    let admin = host.token().to_string();

    std::fs::write(
        deployment.path().join("drhost.toml"),
        users(&[
            ("ops", "operator", "ops-password-2"),
            ("kept", "viewer", "kept-password-1"),
        ]),
    )
    .expect("config");
    host.restart();
    let listed = std::fs::read_to_string(deployment.state().join("users.json")).expect("users");
    assert!(!listed.contains("\"gone\""), "{listed}");
    for stale in [&gone, &ops] {
        let (code, body) = host.get_with(STATUS, Some(stale));
        assert_eq!(
            (code, body["error"]["code"].clone()),
            (401, json!(498)),
            "{body}"
        );
    }
    assert_eq!(host.generate_token("gone", "gone-password-1").0, 400);
    assert_eq!(host.generate_token("ops", "ops-password-1").0, 400);
    assert_eq!(host.generate_token("ops", "ops-password-2").0, 200);
    for still in [&kept, &admin] {
        let (code, body) = host.get_with(STATUS, Some(still));
        assert_eq!(code, 200, "{body}");
    }
}

/// Guessing a backup's passcode through `verify` (open to operators) or
/// `restore` is slowed down per backup: after three wrong passcodes a 429 in
/// the API's error format, with a delay that doubles; the right passcode
/// works once the delay has passed.
#[test]
fn wrong_passcodes_are_slowed_down_per_backup() {
    let deployment = Deployment::new();
    deployment.populate();
    let file = deployment.path().join("nightly.pass");
    std::fs::write(&file, "nightly-password-1\n").expect("password file");
    let users = format!(
        "\n[[user]]\nname = \"nightly\"\nrole = \"operator\"\npassword_file = \"{}\"\n",
        file.display()
    );
    let host = TestHost::start(&deployment, &deployment.config_toml(&users));
    host.backup_ok("b1");
    let (code, body) = host.generate_token("nightly", "nightly-password-1");
    assert_eq!(code, 200, "{body}");
    let operator = body["token"].as_str().expect("token").to_string();
    let verify = "/system/disasterrecovery/stores/default/backups/b1/verify";
    for i in 0..3 {
        let passcode = format!("a-wrong-passcode-{i}");
        let (code, body) = host.post_as(&operator, verify, &[("passcode", &passcode)]);
        assert_eq!(code, 400, "{body}");
    }
    let started = Instant::now();
    for passcode in ["a-wrong-passcode-3", PASSCODE] {
        let (code, body) = host.post_as(&operator, verify, &[("passcode", passcode)]);
        assert_eq!(
            (code, body["error"]["code"].clone()),
            (429, json!(429)),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("try again")),
            "{body}"
        );
    }
    let (code, body) = host.restore("b1", PASSCODE);
    assert_eq!(code, 429, "restore shares the backup's count: {body}");
    std::thread::sleep(
        Duration::from_secs(1).saturating_sub(started.elapsed()) + Duration::from_millis(100),
    );
    let (code, body) = host.post_as(&operator, verify, &[("passcode", PASSCODE)]);
    assert_eq!(code, 200, "{body}");
    let job = host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    assert_eq!(job["status"], "COMPLETED", "{job}");
}

/// Passcodes, passwords and tokens stay out of the host's log, the API's
/// answers and every file of the state directory.
#[test]
fn secrets_never_reach_logs_answers_or_state_files() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let jobid = host.create_backup("b1");
    let job = host.wait_job(&jobid, Duration::from_secs(120));
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let restored = host.restore_job("b1");
    let (_, wrong) = host.restore("b1", "a-wrong-passcode-0123");
    let (_, backups) = host.get("/system/disasterrecovery/stores/default/backups");
    let answers = format!("{job}{restored}{wrong}{backups}{}", host.status());

    let secrets = [
        PASSCODE,
        support::PASSWORD,
        "a-wrong-passcode-0123",
        host.token(),
    ];
    let log = host.log();
    let mut state_files = String::new();
    for file in support::files_under(&deployment.state()) {
        let bytes = std::fs::read(deployment.state().join(&file)).unwrap_or_default();
        state_files.push_str(&String::from_utf8_lossy(&bytes));
    }
    for secret in secrets {
        assert!(!log.contains(secret), "a secret is in the host log");
        assert!(!answers.contains(secret), "a secret is in an API answer");
        assert!(!state_files.contains(secret), "a secret is in a state file");
    }
}

/// The 10.9 `backuprestore` layout, as the ArcGIS API for Python still uses
/// it: the store is a parameter (or the default store), and each operation
/// does what its 10.9.1 twin does.
#[test]
fn legacy_backuprestore_paths_back_up_list_restore_and_delete() {
    const LEGACY: &str = "/system/disasterrecovery/backuprestore";
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));

    let (code, body) = host.post(
        &format!("{LEGACY}/backup"),
        &[
            ("name", "legacy1"),
            ("passcode", PASSCODE),
            ("description", "from a 10.9 client"),
        ],
    );
    assert_eq!(code, 200, "{body}");
    let jobid = body["jobid"].as_str().expect("jobid").to_string();
    let job = host.wait_job(&jobid, Duration::from_secs(300));
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["operationURI"], format!("/arcgis/admin{LEGACY}/backup"));

    // The default store got it, seen through both layouts.
    assert_eq!(host.backup_names(), ["legacy1"]);
    let (code, list) = host.get(&format!("{LEGACY}/backups"));
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["backups"][0]["backupName"], "legacy1");
    let (code, one) = host.get(&format!("{LEGACY}/backups/legacy1?storeName=default"));
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["description"], "from a 10.9 client");
    let (_, status) = host.get(&format!("{LEGACY}/status"));
    assert_eq!(status["status"]["state"], "success", "{status}");
    assert_eq!(status["status"]["backupName"], "legacy1");

    let restore = format!("{LEGACY}/backups/legacy1/restore");
    let (code, wrong) = host.post(
        &restore,
        &[("passcode", "wrong-passcode"), ("storeName", "default")],
    );
    assert_eq!(code, 400, "{wrong}");
    assert!(
        wrong["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("passcode")),
        "{wrong}"
    );
    let (code, body) = host.post(
        &restore,
        &[("passcode", PASSCODE), ("storeName", "default")],
    );
    assert_eq!(code, 200, "{body}");
    let job = host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(300),
    );
    assert_eq!(job["status"], "COMPLETED", "{job}");

    let (code, body) = host.post(
        &format!("{LEGACY}/backups/legacy1/delete"),
        &[("storeName", "default")],
    );
    assert_eq!((code, body), (200, json!({"status": "success"})));
    assert!(host.backup_names().is_empty());
    let (code, body) = host.post(
        &format!("{LEGACY}/backups/legacy1/delete"),
        &[("storeName", "nope")],
    );
    assert_eq!(code, 404, "{body}");
}

/// The DR setting `timeoutInSeconds` cancels a job that runs longer: the job
/// ends `TIMED OUT` (the reference's status, which clients tell from
/// `FAILED`), the DR status reads failed, and the backup leaves nothing listed.
#[test]
fn jobs_longer_than_timeout_in_seconds_are_cancelled() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut file = std::fs::File::create(deployment.objects().join("big.bin")).expect("big");
    support::tree::write_random(&mut file, 384 << 20, 3);
    drop(file);
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let (code, body) = host.post(
        "/system/disasterrecovery/settings/update",
        &[("settings", r#"{"timeoutInSeconds": 1}"#)],
    );
    assert_eq!(code, 200, "{body}");
    let jobid = host.create_backup("too-slow");
    let job = host.wait_job(&jobid, Duration::from_secs(120));
    assert_eq!(job["status"], "TIMED OUT", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("timeoutInSeconds (1 s)"), "{message}");
    assert_eq!(job["result"]["state"], "failed", "{job}");
    assert_eq!(host.status()["state"], "failed");
    assert!(host.backup_names().is_empty());
    // With time enough, the same backup succeeds.
    let (code, _) = host.post(
        "/system/disasterrecovery/settings/update",
        &[("settings", r#"{"timeoutInSeconds": 7200}"#)],
    );
    assert_eq!(code, 200);
    host.backup_ok("in-time");
}

/// `stores/register` with `async=true` (as the ArcGIS API for Python sends
/// it) answers a job at once; the job registers the store, or fails with
/// the reason the store was refused.
#[test]
fn asynchronous_registration_runs_as_a_job() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let register = |name: &str, settings: &str| {
        let (code, body) = host.post(
            "/system/disasterrecovery/stores/register",
            &[
                ("storeName", name),
                ("settings", settings),
                ("isDefault", "false"),
                ("async", "true"),
            ],
        );
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["status"], "SUBMITTED", "{body}");
        let jobid = body["jobid"].as_str().expect("jobid").to_string();
        assert!(
            body["jobsUrl"]
                .as_str()
                .is_some_and(|url| url.starts_with("http://127.0.0.1:") && url.ends_with(&jobid)),
            "{body}"
        );
        host.wait_job(&jobid, Duration::from_secs(60))
    };
    let job = register("second", r#"{"type":"HOSTED"}"#);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["operation"], "RegisterStore", "{job}");
    let (code, store) = host.get("/system/disasterrecovery/stores/second");
    assert_eq!(code, 200, "{store}");

    let job = register("outside", r#"{"type":"HOSTED","rootDir":"/etc"}"#);
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Register backup store"), "{message}");
    let (code, _) = host.get("/system/disasterrecovery/stores/outside");
    assert_eq!(code, 404);
}

/// What the reference's clients send and read about stores: every store
/// field in every view (GITOPS prints `providerID` and `serviceID` of every
/// store), `{"default": false}` (refused only for the last store), the
/// reference's `provisioningType` values, and one name whatever its case.
#[test]
fn store_views_updates_and_names_behave_as_the_reference_clients_expect() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let register = |name: &str, settings: &str| {
        host.post(
            "/system/disasterrecovery/stores/register",
            &[
                ("storeName", name),
                ("settings", settings),
                ("isDefault", "false"),
            ],
        )
    };
    let update = |name: &str, settings: &str| {
        host.post(
            &format!("/system/disasterrecovery/stores/{name}/update"),
            &[("settings", settings)],
        )
    };
    let is_default = |name: &str| {
        host.get(&format!("/system/disasterrecovery/stores/{name}"))
            .1["default"]
            .clone()
    };

    let (_, store) = host.get("/system/disasterrecovery/stores/default");
    for field in drhost::stores::REFERENCE_FIELDS {
        assert!(store.get(field).is_some(), "{field} missing: {store}");
    }
    assert!(
        store["providerID"].is_null() && store["bucketName"].is_null(),
        "{store}"
    );

    // The only store stays the default, and the refusal says why.
    let (code, body) = update("default", r#"{"default": false}"#);
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("only store"),
        "{body}"
    );
    let (code, body) = register(
        "Volumes",
        r#"{"type":"HOSTED","storageConfig":{"provisioningType":"STATIC","storageClass":"gp3",
            "size":"64Gi","labels":{"arcgis/purpose":"backups"}}}"#,
    );
    assert_eq!(code, 200, "{body}");
    let (_, volumes) = host.get("/system/disasterrecovery/stores/Volumes");
    assert_eq!(
        volumes["storageConfig"]["provisioningType"], "STATIC",
        "{volumes}"
    );
    // As GITOPS sends it for a store that is not the default: a no-op.
    let (code, body) = update(
        "Volumes",
        r#"{"default": false, "supportBDSBackup": false}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (is_default("default"), is_default("Volumes")),
        (json!(true), json!(false))
    );
    let (code, body) = update("default", r#"{"default": false}"#);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (is_default("default"), is_default("Volumes")),
        (json!(false), json!(true))
    );

    let (code, body) = register("volumes", r#"{"type":"HOSTED"}"#);
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]["message"].to_string().contains("'Volumes'"),
        "{body}"
    );
    let (code, body) = register(
        "lazy",
        r#"{"type":"HOSTED","storageConfig":{"provisioningType":"LAZY"}}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]["message"]
            .to_string()
            .contains("DYNAMIC, STATIC"),
        "{body}"
    );
    let (code, body) = host.post(
        "/system/disasterrecovery/settings/update",
        &[(
            "settings",
            r#"{"stagingVolumeConfig":{"provisioningType":"LAZY","size":"64Gi"}}"#,
        )],
    );
    assert_eq!(code, 400, "{body}");
    let (_, stores) = host.get("/system/disasterrecovery/stores");
    assert_eq!(
        stores["backupStores"].as_array().map(Vec::len),
        Some(2),
        "{stores}"
    );
}
