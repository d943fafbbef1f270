//! The admin API over HTTPS, as the reference API is: a self-signed
//! certificate generated at the first start (and kept), which a client can
//! trust by pinning; plain HTTP is refused off loopback. Driven with curl, a
//! client any operator has.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Deployment, PASSWORD};

/// Starts drhost with `config`; returns the child and the line it printed
/// when it started serving (or its error output when it did not).
fn start(deployment: &Deployment, config: &str) -> (std::process::Child, Result<String, String>) {
    let path = deployment.path().join("drhost.toml");
    std::fs::write(&path, config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_drhost"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("DRHOST_ADMIN_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn drhost");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for line in stdout.lines().map_while(Result::ok) {
        if line.starts_with("drhost: serving") {
            return (child, Ok(line));
        }
    }
    let _ = child.wait();
    let mut errors = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            errors.push_str(&line);
            errors.push('\n');
        }
    }
    (child, Err(errors))
}

fn curl(args: &[&str]) -> (bool, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn https_with_a_kept_self_signed_certificate() {
    let deployment = Deployment::new();
    let config = deployment
        .config_toml("")
        .replace("plain_http = true\n", "");
    let (mut child, serving) = start(&deployment, &config);
    let line = serving.expect("drhost started");
    let base = base_from(&line);
    assert!(base.starts_with("https://127.0.0.1:"), "{line}");
    let cert = deployment.state().join("tls/cert.pem");
    assert!(line.contains(&cert.display().to_string()), "{line}");
    let first_cert = std::fs::read(&cert).expect("certificate kept in the state");

    let token_url = format!("{base}/sharing/rest/generateToken");
    let login = [
        "-d",
        "username=admin",
        "--data-urlencode",
        &format!("password={PASSWORD}"),
        "-d",
        "client=requestip",
        "-d",
        "f=json",
    ];
    // Pinned: works.
    let cacert = cert.display().to_string();
    let mut args = vec!["--cacert", &cacert];
    args.extend_from_slice(&login);
    args.push(&token_url);
    let (ok, body) = curl(&args);
    assert!(ok && body.contains("\"token\""), "{body}");
    // Not trusted: the handshake is refused by the client.
    let mut args = login.to_vec();
    args.push(&token_url);
    let (ok, body) = curl(&args);
    assert!(
        !ok,
        "an unpinned self-signed certificate was accepted: {body}"
    );
    // Plain HTTP to the HTTPS port gets no API answer.
    let plain = token_url.replacen("https://", "http://", 1);
    let mut args = login.to_vec();
    args.push(&plain);
    let (_, body) = curl(&args);
    assert!(!body.contains("\"token\""), "{body}");

    // A restart keeps the certificate, so pinned clients keep working.
    let _ = child.kill();
    let _ = child.wait();
    let (mut child, serving) = start(&deployment, &config);
    serving.expect("drhost restarted");
    assert_eq!(std::fs::read(&cert).expect("certificate"), first_cert);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn plain_http_is_refused_off_loopback() {
    let deployment = Deployment::new();
    let config = deployment
        .config_toml("")
        .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    let (_child, serving) = start(&deployment, &config);
    let errors = serving.expect_err("plain HTTP on 0.0.0.0 must not start");
    assert!(
        errors.contains("plain_http is only allowed on a loopback address"),
        "{errors}"
    );
    std::thread::sleep(Duration::from_millis(10));
}

/// Real clients unchanged: an HTTP/1.0 client (which offers only
/// `http/1.0` in ALPN) completes the handshake and signs in; `generateToken`
/// says `ssl: true` on HTTPS; `jobsUrl` is HTTPS under the public URL
/// whatever `Host` the client sends, and a configured `public_url` is used
/// as is.
#[test]
fn http_1_0_clients_ssl_flag_and_jobs_urls_from_the_public_url() {
    let deployment = Deployment::new();
    deployment.populate();
    let https = deployment
        .config_toml("")
        .replace("plain_http = true\n", "");
    let (mut child, serving) = start(&deployment, &https);
    let base = base_from(&serving.expect("drhost started"));
    let cacert = deployment
        .state()
        .join("tls/cert.pem")
        .display()
        .to_string();
    let token_url = format!("{base}/sharing/rest/generateToken");
    let password = format!("password={PASSWORD}");
    // Offering only `http/1.0` in ALPN, and offering no ALPN at all.
    let mut answer = serde_json::Value::Null;
    for alpn in [None, Some("--no-alpn")] {
        let mut args = vec!["--http1.0", "--cacert", &cacert];
        args.extend(alpn);
        args.extend([
            "-d",
            "username=admin",
            "--data-urlencode",
            &password,
            "-d",
            "f=json",
            &token_url,
        ]);
        let (ok, body) = curl(&args);
        assert!(ok, "HTTP/1.0 over TLS ({alpn:?}) failed: {body}");
        answer = serde_json::from_str(&body).expect("JSON");
        assert_eq!(answer["ssl"], true, "{body}");
    }
    let token = answer["token"].as_str().expect("token").to_string();

    let create = |url: &str, host: Option<&str>, name: &str| {
        let auth = format!("Authorization: Bearer {token}");
        let name = format!("name={name}");
        let host_header = host.map(|h| format!("Host: {h}"));
        let mut args = vec![
            "--cacert",
            cacert.as_str(),
            "-H",
            auth.as_str(),
            "-d",
            name.as_str(),
            "-d",
            "passcode=a-long-passcode",
            "-d",
            "f=json",
        ];
        if let Some(header) = &host_header {
            args.extend(["-H", header.as_str()]);
        }
        let target = format!("{url}/admin/system/disasterrecovery/stores/default/backups/create");
        args.push(&target);
        let (ok, body) = curl(&args);
        assert!(ok, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        answer["jobsUrl"].as_str().expect("jobsUrl").to_string()
    };
    let jobs_url = create(&base, Some("evil.example.org"), "spoofed-host");
    assert!(
        jobs_url.starts_with(&format!("{base}/admin/jobs/j")),
        "{jobs_url} is not under {base}"
    );
    // The job is reachable at that URL (followed until it is over, so the
    // restart below interrupts nothing).
    let auth = format!("Authorization: Bearer {token}");
    let job_url = format!("{jobs_url}?f=json");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (ok, job) = curl(&["--cacert", &cacert, "-H", &auth, &job_url]);
        assert!(ok && job.contains("\"jobid\""), "{job}");
        if job.contains("\"COMPLETED\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();

    // A configured public URL (a load balancer in front) is used as is.
    let behind = format!("public_url = \"https://dr.example.org:9443/\"\n{https}");
    let (mut child, serving) = start(&deployment, &behind);
    let base = base_from(&serving.expect("drhost restarted"));
    let jobs_url = create(&base, None, "behind-a-balancer");
    assert!(
        jobs_url.starts_with("https://dr.example.org:9443/arcgis/admin/jobs/j"),
        "{jobs_url}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `https://host:port/arcgis` from the line drhost prints when it serves.
fn base_from(line: &str) -> String {
    line.strip_prefix("drhost: serving ")
        .and_then(|rest| rest.split(" (").next())
        .expect("address")
        .trim_end_matches("/admin")
        .to_string()
}

/// HTTPS answers carry `Strict-Transport-Security`; a browser posting a
/// sign-in on behalf of another site (login CSRF) is refused, while a
/// client sending no browser headers (a script) signs in as before.
#[test]
fn https_answers_carry_hsts_and_cross_site_sign_ins_are_refused() {
    let deployment = Deployment::new();
    let config = deployment
        .config_toml("")
        .replace("plain_http = true\n", "");
    let (mut child, serving) = start(&deployment, &config);
    let base = base_from(&serving.expect("drhost started"));
    let token_url = format!("{base}/sharing/rest/generateToken");
    let cacert = deployment
        .state()
        .join("tls/cert.pem")
        .display()
        .to_string();
    let password = format!("password={PASSWORD}");
    let sign_in = |headers: &[&str]| {
        let mut args = vec![
            "--cacert",
            &cacert,
            "-D",
            "-",
            "-d",
            "username=admin",
            "--data-urlencode",
            &password,
            "-d",
            "f=html",
        ];
        for header in headers {
            args.extend_from_slice(&["-H", header]);
        }
        args.push(&token_url);
        let (ok, answer) = curl(&args);
        assert!(ok, "{answer}");
        answer
    };

    let script = sign_in(&[]);
    assert!(script.starts_with("HTTP/1.1 200"), "{script}");
    assert!(script.contains("Signed in"), "{script}");
    assert!(
        script
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{script}"
    );
    for forged in [
        &["Origin: https://evil.example", "Sec-Fetch-Site: cross-site"][..],
        &["Origin: https://evil.example"][..],
    ] {
        let answer = sign_in(forged);
        assert!(answer.starts_with("HTTP/1.1 403"), "{forged:?}: {answer}");
        assert!(!answer.contains("Signed in"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("strict-transport-security"),
            "{answer}"
        );
    }
    let own_origin = format!("Origin: {}", base.trim_end_matches("/arcgis"));
    let same_site = sign_in(&[&own_origin, "Sec-Fetch-Site: same-origin"]);
    assert!(same_site.starts_with("HTTP/1.1 200"), "{same_site}");
    let _ = child.kill();
    let _ = child.wait();
}
