//! The user store and tokens together, through [`Auth`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

fn init(password: Option<&str>) -> (tempfile::TempDir, Auth, Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (auth, generated) =
        Auth::load_or_init(dir.path(), password.map(str::to_owned)).expect("init");
    (dir, auth, generated)
}

#[test]
fn creates_admin_with_given_password() {
    let (dir, auth, generated) = init(Some("correct horse"));
    assert_eq!(generated, None);
    assert_eq!(auth.usernames(), vec!["admin".to_owned()]);
    let identity = auth.authenticate("admin", "correct horse").expect("login");
    assert_eq!(identity.role, Role::Administrator);
    assert_eq!(auth.authenticate("admin", "wrong horse"), None);
    assert_eq!(auth.authenticate("nobody", "correct horse"), None);
    let text = fs::read_to_string(dir.path().join(USERS_FILE)).expect("users file");
    assert!(text.contains("$argon2id$") && text.contains("\"administrator\""));
    assert!(!text.contains("correct horse"));
}

#[test]
fn generates_password_once() {
    let (dir, auth, generated) = init(None);
    let password = generated.expect("generated password");
    assert!(password.len() >= 20);
    assert!(auth.authenticate("admin", &password).is_some());
    let (again, generated) = Auth::load_or_init(dir.path(), None).expect("reload");
    assert_eq!(generated, None);
    assert!(again.authenticate("admin", &password).is_some());
}

#[test]
fn rejects_weak_initial_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let result = Auth::load_or_init(dir.path(), Some("short".into()));
    assert!(matches!(result, Err(AuthError::WeakPassword)));
}

#[cfg(unix)]
#[test]
fn secret_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _auth, _) = init(Some("password1"));
    for name in [KEY_FILE, USERS_FILE] {
        let mode = fs::metadata(dir.path().join(name))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert_eq!(
        fs::read(dir.path().join(KEY_FILE)).expect("key").len(),
        KEY_LEN
    );
}

#[test]
fn tokens_survive_restart() {
    let (dir, auth, _) = init(Some("password1"));
    let issued = auth
        .issue_token("admin", Duration::from_secs(60))
        .expect("token");
    assert!(issued.expires > now_ms());
    let (restarted, _) = Auth::load_or_init(dir.path(), None).expect("reload");
    let identity = restarted.verify_token(&issued.token).expect("valid");
    assert_eq!(identity.username, "admin");
}

#[test]
fn tokens_are_checked() {
    let (_dir, auth, _) = init(Some("password1"));
    let (_other_dir, other, _) = init(Some("password1"));
    let issued = auth
        .issue_token("admin", Duration::from_secs(60))
        .expect("token");
    assert_eq!(
        other.verify_token(&issued.token),
        Err(TokenError::BadSignature)
    );
    assert_eq!(auth.verify_token("garbage"), Err(TokenError::Malformed));
    assert_eq!(auth.verify_token(""), Err(TokenError::Malformed));
    assert_eq!(
        auth.verify_token(&"a.b".repeat(2000)),
        Err(TokenError::Malformed)
    );
    let (payload, mac) = issued.token.split_once('.').expect("dot");
    let forged = URL_SAFE_NO_PAD
        .encode(br#"{"user":"admin","role":"administrator","expires":99999999999999,"nonce":"x"}"#);
    assert_eq!(
        auth.verify_token(&format!("{forged}.{mac}")),
        Err(TokenError::BadSignature)
    );
    assert!(auth.verify_token(&format!("{payload}.{mac}")).is_ok());
    let expired = auth
        .issue_token_expiring_at("admin", now_ms() - 1)
        .expect("token");
    assert_eq!(auth.verify_token(&expired.token), Err(TokenError::Expired));
    assert_eq!(
        auth.verify_token_at(&issued.token, issued.expires),
        Err(TokenError::Expired)
    );
    assert!(matches!(
        auth.issue_token("ghost", Duration::from_secs(1)),
        Err(AuthError::UnknownUser(_))
    ));
}

#[test]
fn password_change_persists() {
    let (dir, auth, _) = init(Some("password1"));
    assert!(matches!(
        auth.set_password("admin", "short"),
        Err(AuthError::WeakPassword)
    ));
    auth.set_password("admin", "password2").expect("set");
    let (reloaded, _) = Auth::load_or_init(dir.path(), None).expect("reload");
    assert!(reloaded.authenticate("admin", "password2").is_some());
    assert!(reloaded.authenticate("admin", "password1").is_none());
}

#[test]
fn corrupt_files_are_errors_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join(USERS_FILE), b"{not json").expect("write");
    assert!(matches!(
        Auth::load_or_init(dir.path(), None),
        Err(AuthError::Corrupt { .. })
    ));
    assert_eq!(
        fs::read(dir.path().join(USERS_FILE)).expect("read"),
        b"{not json"
    );
    fs::write(dir.path().join(KEY_FILE), b"short").expect("write");
    assert!(matches!(
        Auth::load_or_init(dir.path(), None),
        Err(AuthError::BadKey { .. })
    ));
}

#[test]
fn operators_back_up_and_viewers_only_read() {
    use Privilege::*;
    let all = [
        ReadStatus,
        ReadJobs,
        ManageSettings,
        ManageStores,
        ManageBackups,
        RestoreBackups,
    ];
    let granted = |role| {
        all.into_iter()
            .filter(|p| allowed(role, *p))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        granted(Role::Operator),
        [ReadStatus, ReadJobs, ManageBackups]
    );
    assert_eq!(granted(Role::Viewer), [ReadStatus, ReadJobs]);
}

#[test]
fn ensured_users_get_their_role_and_password() {
    let (dir, auth, _) = init(Some("password1"));
    auth.ensure_user("ops", Role::Operator, "ops-password")
        .expect("ensure");
    let (reloaded, _) = Auth::load_or_init(dir.path(), None).expect("reload");
    let identity = reloaded.authenticate("ops", "ops-password").expect("login");
    assert_eq!(identity.role, Role::Operator);
    let token = reloaded
        .issue_token("ops", Duration::from_secs(60))
        .expect("token");
    // A role change revokes tokens issued for the old role.
    reloaded
        .ensure_user("ops", Role::Viewer, "ops-password")
        .expect("ensure");
    assert_eq!(
        reloaded.verify_token(&token.token),
        Err(TokenError::Revoked)
    );
    assert!(matches!(
        reloaded.ensure_user("weak", Role::Viewer, "short"),
        Err(AuthError::WeakPassword)
    ));
}

fn configured(users: &[(&str, Role, &str)]) -> Vec<ConfiguredUser> {
    users
        .iter()
        .map(|(name, role, password)| ConfiguredUser {
            username: (*name).to_owned(),
            role: *role,
            password: (*password).to_owned(),
        })
        .collect()
}

#[test]
fn a_password_change_revokes_the_users_tokens() {
    let (_dir, auth, _) = init(Some("password1"));
    let before = auth
        .issue_token("admin", Duration::from_secs(60))
        .expect("token");
    auth.set_password("admin", "password2").expect("set");
    assert_eq!(auth.verify_token(&before.token), Err(TokenError::Revoked));
    let after = auth
        .issue_token("admin", Duration::from_secs(60))
        .expect("token");
    assert!(auth.verify_token(&after.token).is_ok());
    // Setting the same password again is a change too.
    auth.set_password("admin", "password2").expect("set");
    assert_eq!(auth.verify_token(&after.token), Err(TokenError::Revoked));
}

#[test]
fn users_are_what_the_configuration_says() {
    let (dir, auth, _) = init(Some("password1"));
    let first = configured(&[
        ("ops", Role::Operator, "ops-password-1"),
        ("gone", Role::Viewer, "gone-password-1"),
        ("same", Role::Viewer, "same-password-1"),
    ]);
    let changes = auth.sync_users(&first).expect("sync");
    assert_eq!(changes.added, ["ops", "gone", "same"]);
    let token = |auth: &Auth, name: &str| {
        auth.issue_token(name, Duration::from_secs(600))
            .expect("token")
            .token
    };
    let (admin, ops, gone, same) = (
        token(&auth, "admin"),
        token(&auth, "ops"),
        token(&auth, "gone"),
        token(&auth, "same"),
    );
    // A restart with `gone` removed and `ops`'s password changed.
    let (restarted, _) = Auth::load_or_init(dir.path(), None).expect("reload");
    let second = configured(&[
        ("ops", Role::Operator, "ops-password-2"),
        ("same", Role::Viewer, "same-password-1"),
    ]);
    let changes = restarted.sync_users(&second).expect("sync");
    assert_eq!(
        changes,
        UserChanges {
            added: vec![],
            changed: vec!["ops".into()],
            removed: vec!["gone".into()],
        }
    );
    assert_eq!(restarted.usernames(), ["admin", "ops", "same"]);
    let text = fs::read_to_string(dir.path().join(USERS_FILE)).expect("users file");
    assert!(!text.contains("gone"), "{text}");
    assert_eq!(restarted.verify_token(&gone), Err(TokenError::Revoked));
    assert!(restarted.authenticate("gone", "gone-password-1").is_none());
    assert_eq!(restarted.verify_token(&ops), Err(TokenError::Revoked));
    assert!(restarted.authenticate("ops", "ops-password-2").is_some());
    assert!(restarted.authenticate("ops", "ops-password-1").is_none());
    // Unchanged users, and `admin`, keep their tokens.
    assert!(restarted.verify_token(&same).is_ok());
    assert!(restarted.verify_token(&admin).is_ok());
    assert_eq!(
        restarted.sync_users(&second).expect("sync"),
        UserChanges::default()
    );
    // A removed user created again does not get its old tokens back.
    restarted
        .sync_users(&configured(&[("gone", Role::Viewer, "gone-password-1")]))
        .expect("sync");
    assert_eq!(restarted.verify_token(&gone), Err(TokenError::Revoked));
    assert!(matches!(
        restarted.sync_users(&configured(&[("weak", Role::Viewer, "short")])),
        Err(AuthError::WeakPassword)
    ));
}

#[test]
fn users_files_without_stamps_get_them_and_stampless_tokens_are_refused() {
    let (dir, auth, _) = init(Some("password1"));
    let path = dir.path().join(USERS_FILE);
    let mut file: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("json");
    for user in file["users"].as_array_mut().expect("users") {
        user.as_object_mut().expect("user").remove("stamp");
    }
    fs::write(&path, file.to_string()).expect("write");
    let old_style = {
        let payload = serde_json::to_vec(&serde_json::json!({
            "user": "admin", "role": "administrator",
            "expires": now_ms() + 60_000, "nonce": "n",
        }))
        .expect("payload");
        auth.key.seal(&payload)
    };
    let (reloaded, _) = Auth::load_or_init(dir.path(), None).expect("reload");
    assert_eq!(reloaded.verify_token(&old_style), Err(TokenError::Revoked));
    let text = fs::read_to_string(&path).expect("read");
    assert!(text.contains("\"stamp\""), "{text}");
    let token = reloaded
        .issue_token("admin", Duration::from_secs(60))
        .expect("token");
    let (again, _) = Auth::load_or_init(dir.path(), None).expect("reload");
    assert!(again.verify_token(&token.token).is_ok(), "stamps are kept");
}
