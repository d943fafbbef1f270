//! Access-control tests through the router: login throttling under hundreds
//! of concurrent attempts from one or many addresses, the password-check
//! gate, token revocation, cross-site sign-in posts, HSTS and passcode
//! throttling. Client addresses are set as the server sets them
//! (`ConnectInfo`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;

use crate::tests::{DR, Harness, Reply, harness, harness_with, request};
use crate::{ApiConfig, Role};

const LOGIN: &str = "/arcgis/sharing/rest/generateToken";
const PASSWORD: &str = "admin-password";

fn address(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, a, b))
}

/// A `generateToken` post from `from`, with extra `headers`.
fn login_request(
    from: IpAddr,
    username: &str,
    password: &str,
    format: &str,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let body = format!("username={username}&password={password}&f={format}");
    let mut request = request(Method::POST, LOGIN, Some(&body), headers);
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(from, 40000)));
    request
}

async fn send(router: Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

async fn login(h: &Harness, from: IpAddr, username: &str, password: &str) -> Reply {
    h.send(login_request(from, username, password, "json", &[]))
        .await
}

/// Sends `count` logins at once (built by `make`) and returns their statuses.
async fn concurrent_logins(
    h: &Harness,
    count: usize,
    make: impl Fn(usize) -> Request<Body>,
) -> Vec<StatusCode> {
    let tasks: Vec<_> = (0..count)
        .map(|i| tokio::spawn(send(h.router(), make(i))))
        .collect();
    let mut statuses = Vec::with_capacity(count);
    for task in tasks {
        statuses.push(task.await.expect("task").status);
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_guesses_are_checked_only_a_handful_of_times() {
    let h = harness();
    let guesser = address(0, 1);
    let statuses = concurrent_logins(&h, 300, |i| {
        login_request(guesser, "admin", &format!("guess-{i}"), "json", &[])
    })
    .await;
    let checked = count(&statuses, StatusCode::BAD_REQUEST);
    let refused = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(checked + refused, 300, "{statuses:?}");
    // The free failures at most; fewer if the gate turned some away, and
    // then the next guesses get them and no more.
    assert!((1..=3).contains(&checked), "{checked} checked");
    let mut more = 0;
    while login(&h, guesser, "Admin", "another-guess").await.status == StatusCode::BAD_REQUEST {
        more += 1;
    }
    assert_eq!(checked + more, 3);
    // The right password from the guessing address waits too…
    let reply = login(&h, guesser, "admin", PASSWORD).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text
    );
    assert_eq!(reply.json()["error"]["code"], 429);
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    // …but the real user elsewhere signs in at once.
    let started = Instant::now();
    let reply = login(&h, address(0, 2), "admin", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guesser_cannot_keep_the_real_user_out() {
    let h = harness();
    let home = address(1, 1);
    // One address guessing all the time: the user elsewhere is never held up.
    let guessing = {
        let router = h.router();
        tokio::spawn(async move {
            let (mut refused, mut checked) = (0, 0);
            for i in 0..100 {
                let reply = send(
                    router.clone(),
                    login_request(address(1, 2), "admin", &format!("guess-{i}"), "json", &[]),
                )
                .await;
                refused += usize::from(reply.status == StatusCode::TOO_MANY_REQUESTS);
                checked += usize::from(reply.status == StatusCode::BAD_REQUEST);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (refused, checked)
        })
    };
    for _ in 0..10 {
        let reply = login(&h, home, "admin", PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (refused, guesser_checked) = guessing.await.expect("guesser");
    assert!(refused > 90, "the guesser was slowed");
    // Guessing from 200 addresses (in waves the gate admits whole) spends
    // the user's budget across addresses: fresh addresses wait, but where
    // the user signed in before it still goes ahead, as does a caller with
    // the user's own token.
    let mut statuses = Vec::new();
    for wave in 0..20u8 {
        statuses.extend(
            concurrent_logins(&h, 10, |i| {
                login_request(address(2 + wave, i as u8), "admin", "guess", "json", &[])
            })
            .await,
        );
    }
    assert_eq!(
        guesser_checked + count(&statuses, StatusCode::BAD_REQUEST),
        30,
        "{statuses:?}"
    );
    let fresh = login(&h, address(9, 9), "admin", PASSWORD).await;
    assert_eq!(
        fresh.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        fresh.text
    );
    let reply = login(&h, home, "admin", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let bearer = format!("Bearer {}", h.token);
    let reply = h
        .send(login_request(
            address(9, 9),
            "admin",
            PASSWORD,
            "json",
            &[("Authorization", &bearer)],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_unknown_names_does_not_delay_a_real_login() {
    let h = harness();
    let home = address(3, 1);
    assert_eq!(
        login(&h, home, "admin", PASSWORD).await.status,
        StatusCode::OK
    );
    for (flood, real) in [
        // From one address: its own budget and its two checks at most
        // keep it from the gate; a real user from a fresh address gets in.
        ("one address", address(3, 2)),
        // From 300 addresses: the queue fills, and the real user from an
        // address with a recent sign-in goes ahead of it.
        ("300 addresses", home),
    ] {
        let flooding = {
            let router = h.router();
            tokio::spawn(async move {
                let tasks: Vec<_> = (0..300)
                    .map(|i| {
                        let from = if flood == "one address" {
                            address(4, 1)
                        } else {
                            address(5 + (i / 200) as u8, (i % 200) as u8)
                        };
                        tokio::spawn(send(
                            router.clone(),
                            login_request(from, &format!("nobody{i}"), "whatever-pw", "json", &[]),
                        ))
                    })
                    .collect();
                let mut statuses = Vec::new();
                for task in tasks {
                    statuses.push(task.await.expect("task").status);
                }
                statuses
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let reply = login(&h, real, "admin", PASSWORD).await;
        let took = started.elapsed();
        let statuses = flooding.await.expect("flood");
        assert_eq!(reply.status, StatusCode::OK, "{flood}: {}", reply.text);
        assert!(took < Duration::from_secs(2), "{flood}: took {took:?}");
        let checked = count(&statuses, StatusCode::BAD_REQUEST);
        let refused = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(checked + refused, 300, "{flood}: {statuses:?}");
        if flood == "one address" {
            assert!(checked <= 10, "{flood}: {checked} checked");
        }
    }
}

#[tokio::test]
async fn password_and_role_changes_revoke_tokens_over_the_api() {
    let h = harness();
    let status = format!("{DR}/status");
    assert_eq!(h.get(&status).await.status, StatusCode::OK);
    h.auth
        .set_password("admin", "a-new-password")
        .expect("password");
    let reply = h.get(&status).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(reply.json()["error"]["code"], 498);
    h.auth
        .ensure_user("ops", Role::Operator, "ops-password")
        .expect("ops");
    let ops = h
        .auth
        .issue_token("ops", Duration::from_secs(60))
        .expect("token")
        .token;
    let uri = format!("{status}?f=json&token={ops}");
    let ok = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(ok.status, StatusCode::OK);
    // The same role and password again change nothing…
    h.auth
        .ensure_user("ops", Role::Operator, "ops-password")
        .expect("ops");
    let ok = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(ok.status, StatusCode::OK);
    // …a new password does.
    h.auth
        .ensure_user("ops", Role::Operator, "ops-password-2")
        .expect("ops");
    let revoked = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cross_site_sign_in_posts_are_refused() {
    let h = harness();
    let from = address(6, 1);
    let host = ("Host", "drhost.example:6443");
    for headers in [
        vec![host, ("Sec-Fetch-Site", "cross-site")],
        vec![host, ("Sec-Fetch-Site", "same-site")],
        vec![host, ("Origin", "https://evil.example")],
        vec![host, ("Origin", "null")],
        vec![
            host,
            ("Origin", "https://drhost.example:6443"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    ] {
        for format in ["html", "json"] {
            let reply = h
                .send(login_request(from, "admin", PASSWORD, format, &headers))
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?} {format}");
            assert!(!reply.text.contains("token="), "{}", reply.text);
            assert!(!reply.text.contains("\"token\""), "{}", reply.text);
        }
    }
    let json = h
        .send(login_request(
            from,
            "admin",
            "wrong",
            "json",
            &[host, ("Origin", "https://evil.example")],
        ))
        .await;
    assert_eq!(json.json()["error"]["code"], 403);
    // Refused before any check: the forged posts spent none of the
    // victim's budget. Our own form, scripts and same-origin posts work.
    for headers in [
        vec![host, ("Sec-Fetch-Site", "same-origin"), ("Origin", "null")],
        vec![host, ("Origin", "https://drhost.example:6443")],
        vec![host],
    ] {
        let reply = h
            .send(login_request(from, "admin", PASSWORD, "html", &headers))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{headers:?}: {}", reply.text);
        assert!(reply.text.contains("Signed in"), "{}", reply.text);
    }
}

#[tokio::test]
async fn https_answers_carry_hsts_and_plain_http_ones_do_not() {
    let https = harness_with(ApiConfig {
        https: true,
        ..ApiConfig::default()
    });
    let plain = harness();
    for path in [format!("{DR}/status"), "/arcgis/nowhere".to_owned()] {
        let reply = https.get(&path).await;
        assert_eq!(
            reply.headers[header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000",
            "{path}"
        );
        let reply = plain.get(&path).await;
        assert!(
            !reply
                .headers
                .contains_key(header::STRICT_TRANSPORT_SECURITY),
            "{path}"
        );
    }
    let login_page = https.send(request(Method::GET, LOGIN, None, &[])).await;
    assert!(
        login_page
            .headers
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_passcodes_are_throttled_per_backup() {
    let h = harness();
    let verify = format!("{DR}/stores/s1/backups/b1/verify");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let body = format!("passcode=wrong-passcode-{i}&f=json&token={}", h.token);
            tokio::spawn(send(
                h.router(),
                request(Method::POST, &verify, Some(&body), &[]),
            ))
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task").status);
    }
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 3, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 47);
    // Even the right passcode waits, on restore as on verify, in the
    // API's error format.
    let restore = format!("{DR}/stores/s1/backups/b1/restore");
    for path in [&verify, &restore] {
        let reply = h.post(path, "passcode=right-passcode").await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.text
        );
        let error = &reply.json()["error"];
        assert_eq!(error["code"], 429);
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("passcodes") && m.contains("try again")),
            "{error}"
        );
        assert_eq!(reply.headers[header::RETRY_AFTER], "1");
    }
    // Another backup is not held up.
    let other = h
        .post(
            &format!("{DR}/stores/s1/backups/b2/verify"),
            "passcode=right-passcode",
        )
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    // After the delay the right passcode works and clears the count; the
    // delay then grows with each further wrong passcode.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = h.post(&restore, "passcode=right-passcode").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    for _ in 0..3 {
        let reply = h.post(&verify, "passcode=wrong-again").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    }
    let reply = h.post(&verify, "passcode=wrong-again").await;
    assert_eq!(reply.headers[header::RETRY_AFTER], "1", "{}", reply.text);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = h.post(&verify, "passcode=wrong-again").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let reply = h.post(&verify, "passcode=wrong-again").await;
    assert_eq!(reply.headers[header::RETRY_AFTER], "2", "{}", reply.text);
}
