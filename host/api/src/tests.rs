//! Router tests: a fake `DrOps`, real `Auth` in a temporary directory, and
//! requests sent with `tower::ServiceExt::oneshot`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::now_ms;
use crate::model::{
    Backup, BackupRow, BackupStatus, Capabilities, Directory, DrSettings, DrStatus, Job,
    JobProgress, JobState, Limits, Load, Operation, Plugin, Store,
};
use crate::{
    ApiConfig, Auth, CreateBackup, DeleteBackup, DrOps, JobRef, OpError, RegisterStore,
    RestoreBackup, ValidateBackup, router,
};

pub(crate) const DR: &str = "/arcgis/admin/system/disasterrecovery";
pub(crate) const PASSWORD: &str = "admin-password";
const FORM: &str = "application/x-www-form-urlencoded";

/// Records every mutating call as JSON; behaviour keyed on names.
#[derive(Default)]
pub(crate) struct FakeOps {
    calls: Mutex<Vec<Value>>,
    /// Lists no default store (for the legacy routes' fallback).
    without_default_store: std::sync::atomic::AtomicBool,
}

impl FakeOps {
    fn record(&self, call: Value) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }

    pub(crate) fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A store as the host shows one; the fields the tests look at are the
/// arguments.
pub(crate) fn fake_store(name: &str, default: bool) -> Store {
    Store {
        name: name.to_owned(),
        default,
        kind: "HOSTED".to_owned(),
        storage_config: Value::Null,
        identity: "fake".to_owned(),
        identity_key: None,
        root_dir: format!("/srv/backups/{name}"),
        auto_shutdown: None,
        version_created: "0.0.0".to_owned(),
        provider_id: None,
        service_id: None,
        bucket_name: None,
        region: None,
        provider: Value::Null,
        endpoint: None,
        append_only: false,
        created: 0,
    }
}

pub(crate) fn fake_backup(name: &str, description: &str) -> Backup {
    Backup {
        backup_name: name.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        backup_store: "default".to_owned(),
        backup_type: "FULL".to_owned(),
        schedule_type: "MANUAL".to_owned(),
        release: "0.0.0".to_owned(),
        site_name: "arcgis".to_owned(),
        status: BackupStatus::Completed,
        start_time: 1,
        complete_time: 2,
        retention_date: -1,
        stored_bytes: 0,
        total_bytes: 0,
        stages: Vec::new(),
    }
}

fn fake_job(jobid: &str, status: JobState) -> Job {
    Job {
        jobid: jobid.to_owned(),
        status,
        operation: Operation::Backup,
        start_time: 1,
        end_time: 0,
        updated_time: 1,
        operation_uri: "/arcgis/admin".to_owned(),
        username: "admin".to_owned(),
        messages: Vec::new(),
        progress: JobProgress { stages: Vec::new() },
        result: None,
    }
}

fn fake_plugin(name: &str, kind: &str, stage_kind: Option<&str>, dirs: Vec<Directory>) -> Plugin {
    Plugin {
        name: name.to_owned(),
        plugin: name.to_owned(),
        component: "built-in".to_owned(),
        kind: kind.to_owned(),
        stage_kind: stage_kind.map(str::to_owned),
        described_name: name.to_owned(),
        version: "0.1.0".to_owned(),
        append_only: None,
        wit_package: "drhost:plugin@0.2.1".to_owned(),
        digest: "sha256:00".to_owned(),
        status: "enabled".to_owned(),
        reason: None,
        store_type: None,
        capabilities: Capabilities {
            directories: dirs,
            tcp_connect: Vec::new(),
            http_connect: Vec::new(),
            password: None,
            limits: Limits {
                memory_mib: 64,
                cpu_seconds: 1.0,
                wall_seconds: 1.0,
            },
        },
        load: Load {
            source: "memory".to_owned(),
            millis: 0,
        },
    }
}

fn missing_store(store: &str) -> OpError {
    OpError::NotFound(format!("Backup store '{store}' was not found."))
}

#[async_trait]
impl DrOps for FakeOps {
    async fn list_stores(&self) -> Result<Vec<Store>, OpError> {
        let default = !self
            .without_default_store
            .load(std::sync::atomic::Ordering::Relaxed);
        Ok(vec![
            fake_store("default", default),
            fake_store("<script>alert(1)</script>", false),
        ])
    }
    async fn store(&self, store: &str) -> Result<Store, OpError> {
        match store {
            "missing" => Err(missing_store(store)),
            "boom" => panic!("fake store exploded"),
            _ => Ok(fake_store(store, false)),
        }
    }
    async fn register_store(
        &self,
        store: &str,
        settings: Value,
        is_default: bool,
    ) -> Result<(), OpError> {
        if store == "taken" {
            return Err(OpError::Conflict(
                "A backup store named 'taken' exists.".into(),
            ));
        }
        self.record(
            json!({"op": "register", "store": store, "settings": settings, "default": is_default}),
        );
        Ok(())
    }
    async fn validate_backup(&self, request: ValidateBackup) -> Result<JobRef, OpError> {
        self.record(
            json!({"op": "validate", "store": request.store, "backup": request.backup,
                           "passcode": request.passcode, "operationURI": request.operation_uri}),
        );
        Ok(JobRef {
            jobid: "j321".into(),
        })
    }
    async fn register_store_async(&self, request: RegisterStore) -> Result<JobRef, OpError> {
        self.record(
            json!({"op": "register", "store": request.store, "settings": request.settings,
                           "default": request.is_default, "async": true,
                           "username": request.username, "operationURI": request.operation_uri}),
        );
        Ok(JobRef {
            jobid: "j789".into(),
        })
    }
    async fn update_store(&self, store: &str, settings: Value) -> Result<(), OpError> {
        self.record(json!({"op": "update_store", "store": store, "settings": settings}));
        Ok(())
    }
    async fn unregister_store(&self, store: &str) -> Result<(), OpError> {
        self.record(json!({"op": "unregister", "store": store}));
        Ok(())
    }
    async fn validate_store(&self, store: &str) -> Result<bool, OpError> {
        Ok(store == "ready")
    }
    async fn list_backups(&self, store: &str) -> Result<Vec<BackupRow>, OpError> {
        if store == "missing" {
            return Err(missing_store(store));
        }
        Ok(vec![BackupRow::Backup(fake_backup("b1", ""))])
    }
    async fn backup(&self, _store: &str, backup: &str) -> Result<Backup, OpError> {
        Ok(fake_backup(backup, "<script>alert('d')</script> & co"))
    }
    async fn create_backup(&self, request: CreateBackup) -> Result<JobRef, OpError> {
        if request.store == "busy" {
            return Err(OpError::Conflict(
                "Another disaster recovery job is running.".into(),
            ));
        }
        self.record(json!({
            "op": "create", "store": request.store, "name": request.name,
            "passcode": request.passcode.expose(), "description": request.description,
            "retentionDate": request.retention_date, "username": request.username,
            "operationURI": request.operation_uri,
        }));
        Ok(JobRef {
            jobid: "j123".into(),
        })
    }
    async fn update_backup(
        &self,
        store: &str,
        backup: &str,
        retention_date: i64,
    ) -> Result<(), OpError> {
        self.record(json!({"op": "update_backup", "store": store, "backup": backup, "retentionDate": retention_date}));
        Ok(())
    }
    async fn restore_backup(&self, request: RestoreBackup) -> Result<JobRef, OpError> {
        if request.passcode != "right-passcode" {
            return Err(OpError::WrongPasscode("The passcode is incorrect.".into()));
        }
        self.record(
            json!({"op": "restore", "store": request.store, "backup": request.backup,
                           "username": request.username, "operationURI": request.operation_uri,
                           "partial": request.partial}),
        );
        Ok(JobRef {
            jobid: "j456".into(),
        })
    }
    async fn tasks(&self, call: crate::TaskCall) -> Result<Value, OpError> {
        self.record(json!({"op": "tasks", "call": format!("{call:?}")}));
        Ok(json!({"result": []}))
    }
    async fn verify_backup(&self, request: RestoreBackup) -> Result<JobRef, OpError> {
        if request.passcode != "right-passcode" {
            return Err(OpError::WrongPasscode("The passcode is incorrect.".into()));
        }
        self.record(json!({"op": "verify", "store": request.store, "backup": request.backup}));
        Ok(JobRef {
            jobid: "j789".into(),
        })
    }
    async fn delete_backup(
        &self,
        request: DeleteBackup,
        asynchronous: bool,
    ) -> Result<JobRef, OpError> {
        self.record(json!({"op": "delete", "store": request.store, "backup": request.backup, "async": asynchronous}));
        Ok(JobRef {
            jobid: "j789".into(),
        })
    }
    async fn list_jobs(&self) -> Result<Vec<String>, OpError> {
        Ok(vec!["j1".into(), "j2".into()])
    }
    async fn job(&self, jobid: &str) -> Result<Job, OpError> {
        match jobid {
            "j1" => Ok(fake_job("j1", JobState::Completed)),
            "j2" => Ok(fake_job("j2", JobState::Executing)),
            _ => Err(OpError::NotFound(format!("Job '{jobid}' was not found."))),
        }
    }
    async fn status(&self) -> Result<DrStatus, OpError> {
        Ok(DrStatus::no_op())
    }
    async fn settings(&self) -> Result<DrSettings, OpError> {
        Ok(DrSettings {
            timeout_in_seconds: 7200,
            resume_interrupted_backups: true,
            staging_volume_config: Some(json!({"size": "64Gi", "provisioningType": "DYNAMIC"})),
        })
    }
    async fn update_settings(&self, settings: Value) -> Result<(), OpError> {
        if settings.get("fail").is_some() {
            return Err(OpError::Internal("The settings could not be saved.".into()));
        }
        self.record(json!({"op": "update_settings", "settings": settings}));
        Ok(())
    }
    async fn list_plugins(&self) -> Result<Vec<Plugin>, OpError> {
        let data = Directory {
            host: "/srv/data".to_owned(),
            guest: "/data".to_owned(),
            access: "ro".to_owned(),
            during: "backup".to_owned(),
        };
        let mut stage = fake_plugin(
            "Stage Object store",
            "stage",
            Some("object-store"),
            vec![data],
        );
        stage.plugin = "object-store-fs".to_owned();
        let mut adapter = fake_plugin("store-fs", "store-adapter", None, Vec::new());
        adapter.digest = "sha256:11".to_owned();
        adapter.append_only = Some(false);
        Ok(vec![stage, adapter])
    }
}

pub(crate) struct Harness {
    router: Router,
    pub(crate) ops: Arc<FakeOps>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) token: String,
    dir: tempfile::TempDir,
}

pub(crate) fn harness_with(config: ApiConfig) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let (auth, _) = Auth::load_or_init(dir.path(), Some(PASSWORD.into())).expect("auth");
    let auth = Arc::new(auth);
    let token = auth
        .issue_token("admin", std::time::Duration::from_secs(600))
        .expect("token")
        .token;
    let ops = Arc::new(FakeOps::default());
    let router = router(config, ops.clone(), auth.clone());
    Harness {
        router,
        ops,
        auth,
        token,
        dir,
    }
}

pub(crate) fn harness() -> Harness {
    harness_with(ApiConfig::default())
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn error_code(&self) -> i64 {
        self.json()["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error code: {}", self.text))
    }

    fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Builds a request; a body is sent form-encoded.
pub(crate) fn request(
    method: Method,
    uri: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, FORM);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("request")
}

impl Harness {
    /// The router, for requests sent from tasks of their own.
    pub(crate) fn router(&self) -> Router {
        self.router.clone()
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
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

    /// GET with `f=json` and the token in the query string.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        let uri = format!("{path}?f=json&token={}", self.token);
        self.send(request(Method::GET, &uri, None, &[])).await
    }

    /// POST of `body` plus `f=json` and the token.
    pub(crate) async fn post(&self, path: &str, body: &str) -> Reply {
        let body = format!("{body}&f=json&token={}", self.token);
        self.send(request(Method::POST, path, Some(&body), &[]))
            .await
    }
}

pub(crate) fn encode(text: &str) -> String {
    crate::pct::encode_segment(text)
}

// ---- tasks ---------------------------------------------------------------

#[tokio::test]
async fn task_routes_reach_the_operations_and_check_ids() {
    let h = harness();
    let id = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        h.get("/arcgis/admin/system/tasks").await.status,
        StatusCode::OK
    );
    let created = h
        .post(
            "/arcgis/admin/system/tasks/createTask",
            "type=CreateBackup&parameters=%7B%22name%22%3A%22n%22%7D&minute=0&hour=4",
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    for op in ["update", "delete", "enable", "disable", "run"] {
        let reply = h
            .post(&format!("/arcgis/admin/system/tasks/{id}/{op}"), "")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{op}: {}", reply.text);
    }
    let runs = h
        .get(&format!("/arcgis/admin/system/tasks/{id}/runs/{id}"))
        .await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.text);
    let calls = h.ops.calls();
    let made: Vec<String> = calls
        .iter()
        .map(|c| c["call"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(made.iter().any(|c| c.starts_with("Create(")), "{made:?}");
    assert!(made.iter().any(|c| c.starts_with("RunNow(")), "{made:?}");
    assert!(
        made.iter()
            .any(|c| c.starts_with("SetEnabled(") && c.contains("false")),
        "{made:?}"
    );
    // A run's update and delete reach the host and answer both success shapes.
    let run = format!("/arcgis/admin/system/tasks/{id}/runs/{id}");
    let reply = h
        .post(&format!("{run}/update"), "status=failed&result=by%20hand")
        .await;
    assert_eq!(reply.json(), json!({"status": "success", "success": true}));
    let reply = h
        .post(&format!("{run}/update"), "results=edit_run%20says")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = h.post(&format!("{run}/delete"), "").await;
    assert_eq!(reply.json(), json!({"status": "success", "success": true}));
    let made: Vec<String> = h
        .ops
        .calls()
        .iter()
        .map(|c| c["call"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        made.iter().any(|c| c.starts_with("UpdateRun")
            && c.contains("Some(\"failed\")")
            && c.contains("Some(\"by hand\")")),
        "{made:?}"
    );
    assert!(
        made.iter().any(|c| c.contains("Some(\"edit_run says\")")),
        "{made:?}"
    );
    assert!(made.iter().any(|c| c.starts_with("DeleteRun")), "{made:?}");
    assert_eq!(
        h.get(&format!("{run}/delete")).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // createTask needs parameters; ids are 32 hex; operations are POST only.
    let reply = h
        .post("/arcgis/admin/system/tasks/createTask", "type=CreateBackup")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let reply = h.get("/arcgis/admin/system/tasks/..%2F..").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    let reply = h
        .get(&format!("/arcgis/admin/system/tasks/{id}/delete"))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.text
    );
}

// ---- tokens --------------------------------------------------------------

#[tokio::test]
async fn token_accepted_in_each_of_the_four_places() {
    let h = harness();
    let status = format!("{DR}/status");
    let bearer = format!("Bearer {}", h.token);
    let requests = [
        request(
            Method::POST,
            &status,
            Some(&format!("f=json&token={}", h.token)),
            &[],
        ),
        request(
            Method::GET,
            &format!("{status}?f=json&token={}", h.token),
            None,
            &[],
        ),
        request(
            Method::GET,
            &format!("{status}?f=json"),
            None,
            &[("X-Esri-Authorization", &bearer)],
        ),
        request(
            Method::GET,
            &format!("{status}?f=json"),
            None,
            &[("Authorization", &bearer)],
        ),
    ];
    for request in requests {
        let reply = h.send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.json(),
            json!({"status": {"code": 0, "messages": [], "state": "no_op"}})
        );
    }
}

#[tokio::test]
async fn token_parameter_takes_precedence_over_headers() {
    let h = harness();
    let bearer = format!("Bearer {}", h.token);
    let uri = format!("{DR}/status?f=json&token=not-a-token");
    let reply = h
        .send(request(
            Method::GET,
            &uri,
            None,
            &[("Authorization", &bearer)],
        ))
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::UNAUTHORIZED, 498)
    );
    let uri = format!("{DR}/status?f=json");
    let headers = [
        ("X-Esri-Authorization", "Bearer not-a-token"),
        ("Authorization", bearer.as_str()),
    ];
    let reply = h.send(request(Method::GET, &uri, None, &headers)).await;
    assert_eq!(reply.error_code(), 498);
}

#[tokio::test]
async fn missing_token_is_499() {
    let h = harness();
    for uri in [
        format!("{DR}/status?f=json"),
        format!("{DR}/status?f=json&token="),
    ] {
        let reply = h.send(request(Method::GET, &uri, None, &[])).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.json(),
            json!({"error": {"code": 499, "message": "Token Required.", "details": []}})
        );
    }
    let reply = h
        .send(request(
            Method::GET,
            &format!("{DR}/status?f=json"),
            None,
            &[("Authorization", "Basic YTpi")],
        ))
        .await;
    assert_eq!(reply.error_code(), 499);
}

#[tokio::test]
async fn tampered_and_expired_tokens_are_498() {
    let h = harness();
    let (payload, mac) = h.token.split_once('.').expect("two parts");
    let mut bad_mac = mac.to_owned().into_bytes();
    bad_mac[0] = if bad_mac[0] == b'A' { b'B' } else { b'A' };
    let tampered_mac = format!("{payload}.{}", String::from_utf8(bad_mac).expect("ascii"));
    let other_payload = format!("{}x.{mac}", payload);
    for token in [
        tampered_mac.as_str(),
        other_payload.as_str(),
        "garbage",
        "a.b.c",
    ] {
        let reply = h
            .send(request(
                Method::GET,
                &format!("{DR}/status?f=json&token={token}"),
                None,
                &[],
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(
            (reply.error_code(), reply.error_message().as_str()),
            (498, "Invalid token.")
        );
    }
    let expired = h
        .auth
        .issue_token_expiring_at("admin", now_ms() - 1000)
        .expect("token")
        .token;
    let reply = h
        .send(request(
            Method::GET,
            &format!("{DR}/status?f=json&token={expired}"),
            None,
            &[],
        ))
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::UNAUTHORIZED, 498)
    );
    assert!(reply.error_message().contains("expired"), "{}", reply.text);
}

#[tokio::test]
async fn tokens_survive_a_restart() {
    let h = harness();
    let (auth, generated) = Auth::load_or_init(h.dir.path(), None).expect("reload");
    assert_eq!(generated, None);
    let restarted = router(ApiConfig::default(), h.ops.clone(), Arc::new(auth));
    let uri = format!("{DR}/status?f=json&token={}", h.token);
    let response = restarted
        .oneshot(request(Method::GET, &uri, None, &[]))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

/// `ssl` says whether the API is served over HTTPS: false only for a host
/// serving plain HTTP (loopback only).
#[tokio::test]
async fn generate_token_says_ssl_false_over_plain_http() {
    let h = harness_with(ApiConfig {
        public_url: "http://127.0.0.1:8080".to_owned(),
        ..ApiConfig::default()
    });
    let body = format!("username=admin&password={PASSWORD}&f=json");
    let reply = h
        .send(request(
            Method::POST,
            "/arcgis/sharing/rest/generateToken",
            Some(&body),
            &[],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["ssl"], json!(false));
}

#[tokio::test]
async fn generate_token_and_use_it() {
    let h = harness();
    let before = now_ms();
    let body = format!(
        "username=admin&password={PASSWORD}&client=referer&referer=referer&expiration=60&f=json"
    );
    let reply = h
        .send(request(
            Method::POST,
            "/arcgis/sharing/rest/generateToken",
            Some(&body),
            &[],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let value = reply.json();
    // The API is served over HTTPS (the default public URL).
    assert_eq!(value["ssl"], json!(true));
    let expires = value["expires"].as_i64().expect("expires is a number");
    assert!(expires >= before + 3_600_000 && expires <= now_ms() + 3_600_000);
    let token = value["token"].as_str().expect("token");
    let bearer = format!("Bearer {token}");
    let reply = h
        .send(request(
            Method::GET,
            &format!("{DR}/stores?f=json"),
            None,
            &[("Authorization", &bearer)],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn generate_token_caps_expiration_and_defaults_client() {
    let h = harness();
    let body = format!("username=admin&password={PASSWORD}&expiration=100000&f=json");
    let reply = h
        .send(request(
            Method::POST,
            "/arcgis/sharing/rest/generateToken",
            Some(&body),
            &[],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let expires = reply.json()["expires"].as_i64().expect("expires");
    assert!(expires <= now_ms() + 24 * 3_600_000);
    assert!(expires > now_ms() + 23 * 3_600_000);
}

#[tokio::test]
async fn generate_token_refusals_do_not_enumerate_users() {
    let h = harness();
    let url = "/arcgis/sharing/rest/generateToken";
    let wrong = h
        .send(request(
            Method::POST,
            url,
            Some("username=admin&password=wrong-password&client=requestip&f=json"),
            &[],
        ))
        .await;
    let unknown = h
        .send(request(
            Method::POST,
            url,
            Some(&format!("username=nobody&password={PASSWORD}&f=json")),
            &[],
        ))
        .await;
    for reply in [&wrong, &unknown] {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.json(),
            json!({"error": {"code": 400, "message": "Unable to generate token.",
                             "details": ["Invalid username or password."]}})
        );
    }
    let missing = h
        .send(request(
            Method::POST,
            url,
            Some("client=referer&f=json"),
            &[],
        ))
        .await;
    assert_eq!(missing.error_code(), 400);
    let details = missing.json()["error"]["details"].clone();
    assert_eq!(
        details,
        json!([
            "'username' must be specified.",
            "'password' must be specified.",
            "'referer' must be specified."
        ])
    );
    let in_url = h
        .send(request(
            Method::POST,
            &format!("{url}?password={PASSWORD}"),
            Some("username=admin&f=json"),
            &[],
        ))
        .await;
    assert_eq!(in_url.status, StatusCode::BAD_REQUEST);
    assert!(!in_url.text.contains(PASSWORD));
    let bad_expiration = h
        .send(request(
            Method::POST,
            url,
            Some(&format!(
                "username=admin&password={PASSWORD}&expiration=-5&f=json"
            )),
            &[],
        ))
        .await;
    assert!(
        bad_expiration.text.contains("'expiration'"),
        "{}",
        bad_expiration.text
    );
    let get = h
        .send(request(Method::GET, &format!("{url}?f=json"), None, &[]))
        .await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
}

// ---- formats -------------------------------------------------------------

#[tokio::test]
async fn json_pjson_and_html_formats() {
    let h = harness();
    let compact = h.get(&format!("{DR}/stores")).await;
    assert!(
        compact.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    assert!(!compact.text.contains('\n'));
    assert_eq!(compact.json()["backupStores"][0]["name"], "default");

    let uri = format!("{DR}/stores?f=pjson&token={}", h.token);
    let pretty = h.send(request(Method::GET, &uri, None, &[])).await;
    assert!(
        pretty.text.contains("\n  \"backupStores\""),
        "{}",
        pretty.text
    );
    assert_eq!(pretty.json(), compact.json());

    let uri = format!("{DR}/stores?token={}", h.token);
    let html = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert!(
        html.text
            .contains("<title>/arcgis/admin/system/disasterrecovery/stores</title>")
    );
    assert!(html.text.contains("<pre>"));
    let token_query = format!("f=html&amp;token={}", encode(&h.token));
    assert!(!html.text.contains("<script>"), "{}", html.text);
    assert!(html.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.text.contains(&format!(
        "href=\"/arcgis/admin/system/disasterrecovery/stores/default?{token_query}\""
    )));
    assert!(
        html.text
            .contains("action=\"/arcgis/admin/system/disasterrecovery/stores/register\"")
    );
    assert!(html.text.contains("%3Cscript%3E"));

    let uri = format!("{DR}/stores?f=xml&token={}", h.token);
    let unknown = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.error_message().contains("'f'"));
}

#[tokio::test]
async fn html_errors() {
    let h = harness();
    let reply = h
        .send(request(
            Method::GET,
            "/arcgis/admin/%3Cnope%3E?f=html",
            None,
            &[],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.text.starts_with("<!DOCTYPE html>"));
    assert!(reply.text.contains("Error 404"));
    assert!(!reply.text.contains("<nope>"));
    let reply = h
        .send(request(Method::GET, &format!("{DR}/status"), None, &[]))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.text.contains("Error 499"));
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let h = harness();
    for reply in [
        h.get(&format!("{DR}/status")).await,
        h.get("/nowhere").await,
    ] {
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(reply.headers[header::REFERRER_POLICY], "no-referrer");
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(!csp.contains("script-src"), "{csp}");
    }
}

// ---- resources -----------------------------------------------------------

#[tokio::test]
async fn root_resources() {
    let h = harness();
    let root = h.get("/arcgis/admin").await.json();
    assert_eq!(root["resources"], json!(["system", "jobs"]));
    assert!(root["currentVersion"].as_f64().expect("number") >= 11.2);
    assert_eq!(
        h.get("/arcgis/admin/system").await.json(),
        json!({"resources": ["disasterrecovery", "tasks", "plugins"]})
    );
    assert_eq!(
        h.get(DR).await.json(),
        json!({"operations": ["status"], "resources": ["stores", "settings"]})
    );
    assert_eq!(h.get(&format!("{DR}/")).await.status, StatusCode::OK);
    assert_eq!(
        h.get(&format!("{DR}/settings")).await.json()["stagingVolumeConfig"]["size"],
        "64Gi"
    );
    assert_eq!(
        h.get("/arcgis/admin/jobs").await.json(),
        json!({"jobs": ["j1", "j2"]})
    );
    assert_eq!(
        h.get("/arcgis/admin/jobs/j1").await.json()["status"],
        "COMPLETED"
    );
    assert_eq!(h.get(&format!("{DR}/stores/s1")).await.json()["name"], "s1");
    assert_eq!(
        h.get(&format!("{DR}/stores/s1/backups")).await.json(),
        json!({"backups": [fake_backup("b1", "")]})
    );
    assert_eq!(
        h.get(&format!("{DR}/stores/s1/backups/b1")).await.json()["backupName"],
        "b1"
    );
}

#[tokio::test]
async fn resources_accept_post() {
    let h = harness();
    let reply = h.post(&format!("{DR}/stores"), "").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn get_with_parameters_in_the_body() {
    let h = harness();
    let body = format!("f=json&token={}", h.token);
    let reply = h
        .send(request(
            Method::GET,
            &format!("{DR}/status"),
            Some(&body),
            &[],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["status"]["state"], "no_op");
    // The body wins over the query string.
    let reply = h
        .send(request(
            Method::GET,
            &format!("{DR}/status?f=html&token=bad"),
            Some(&body),
            &[],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"]["state"], "no_op");
}

// ---- operations ----------------------------------------------------------

#[tokio::test]
async fn create_backup_answers_the_job_envelope() {
    let h = harness_with(ApiConfig {
        public_url: "https://dr.example.org:8443".to_owned(),
        ..ApiConfig::default()
    });
    let path = format!("{DR}/stores/s1/backups/create");
    let body = format!(
        "name=nightly&passcode=12345678&description=None&storeName=ignored&f=pjson&token={}",
        h.token
    );
    let reply = h.send(request(Method::POST, &path, Some(&body), &[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"jobsUrl": "https://dr.example.org:8443/arcgis/admin/jobs/j123",
               "jobid": "j123", "status": "SUBMITTED"})
    );
    assert_eq!(
        h.ops.calls(),
        vec![
            json!({"op": "create", "store": "s1", "name": "nightly", "passcode": "12345678",
                    "description": "", "retentionDate": -1, "username": "admin",
                    "operationURI": path})
        ]
    );
}

/// `jobsUrl` comes from the configured public URL: a client that sends
/// another `Host` (or `X-Forwarded-Proto`) cannot point it elsewhere, nor
/// downgrade it to `http://`.
#[tokio::test]
async fn jobs_urls_ignore_the_host_header() {
    let h = harness();
    let path = format!("{DR}/stores/s1/backups/create");
    let body = format!("name=nightly&passcode=12345678&f=json&token={}", h.token);
    for headers in [
        &[("Host", "evil.example.org")][..],
        &[
            ("Host", "evil.example.org:80"),
            ("X-Forwarded-Proto", "http"),
        ][..],
        &[][..],
    ] {
        let reply = h
            .send(request(Method::POST, &path, Some(&body), headers))
            .await;
        assert_eq!(
            reply.json()["jobsUrl"],
            "https://127.0.0.1:6443/arcgis/admin/jobs/j123",
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn create_backup_parameters() {
    let h = harness();
    let path = format!("{DR}/stores/s1/backups/create");
    let reply = h.post(&path, "name=b&passcode=1234567").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.error_message(),
        "The passcode must be at least eight characters in length."
    );
    let reply = h.post(&path, "name=b").await;
    assert_eq!(
        reply.error_message(),
        "Missing required parameter 'passcode'."
    );
    let reply = h.post(&path, "passcode=12345678").await;
    assert_eq!(reply.error_message(), "Missing required parameter 'name'.");
    let reply = h
        .post(&path, "name=b&passcode=12345678&retentionDate=soon")
        .await;
    assert!(reply.error_message().contains("'retentionDate'"));
    let reply = h.post(&path, "name=create&passcode=12345678").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(h.ops.calls().is_empty());
    let reply = h
        .post(&path, "name=b&passcode=pass+word%26%3D&description=Before+upgrade&retentionDate=1635945710988")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let call = &h.ops.calls()[0];
    assert_eq!(call["passcode"], "pass word&=");
    assert_eq!(call["description"], "Before upgrade");
    assert_eq!(call["retentionDate"], 1_635_945_710_988_i64);
}

#[tokio::test]
async fn conflict_is_409() {
    let h = harness();
    let reply = h
        .post(
            &format!("{DR}/stores/busy/backups/create"),
            "name=b&passcode=12345678",
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": 409, "message": "Another disaster recovery job is running.", "details": []}})
    );
}

#[tokio::test]
async fn register_store_booleans() {
    let h = harness();
    let path = format!("{DR}/stores/register");
    let settings = encode(r#"{"type":"HOSTED","storageConfig":{"size":"64Gi"}}"#);
    let reply = h
        .post(
            &path,
            &format!("storeName=s1&settings={settings}&isDefault=True&async=False"),
        )
        .await;
    assert_eq!(reply.json(), json!({"status": "success"}));
    let reply = h
        .post(
            &path,
            &format!("storeName=s2&settings={settings}&isDefault=false&async=True"),
        )
        .await;
    // `async=True` registers in a job, as the ArcGIS API for Python expects.
    assert_eq!(
        reply.json(),
        json!({"jobsUrl": "https://127.0.0.1:6443/arcgis/admin/jobs/j789",
               "jobid": "j789", "status": "SUBMITTED"})
    );
    let reply = h
        .post(&path, &format!("storeName=s3&settings={settings}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let calls = h.ops.calls();
    let defaults: Vec<&Value> = calls.iter().map(|c| &c["default"]).collect();
    assert_eq!(defaults, vec![&json!(true), &json!(false), &json!(false)]);
    assert_eq!(calls[0]["settings"]["storageConfig"]["size"], "64Gi");
    let asynchronous: Vec<bool> = calls.iter().map(|c| c["async"] == json!(true)).collect();
    assert_eq!(asynchronous, vec![false, true, false]);
    assert_eq!(calls[1]["settings"]["storageConfig"]["size"], "64Gi");
    assert_eq!(calls[1]["operationURI"], path);

    let reply = h
        .post(
            &path,
            &format!("storeName=s4&settings={settings}&isDefault=maybe"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error_message().contains("'isDefault'"));
    let reply = h
        .post(&path, &format!("storeName=register&settings={settings}"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = h
        .post(&path, &format!("storeName=taken&settings={settings}"))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn malformed_settings_name_the_parameter() {
    let h = harness();
    for (path, extra) in [
        (format!("{DR}/settings/update"), ""),
        (format!("{DR}/stores/register"), "storeName=s1&"),
        (format!("{DR}/stores/s1/update"), ""),
    ] {
        let reply = h
            .post(&path, &format!("{extra}settings=%7B%22default%22%3A"))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        let message = reply.error_message();
        assert!(
            message.contains("'settings'") && message.contains("JSON"),
            "{message}"
        );
        let reply = h.post(&path, extra.trim_end_matches('&')).await;
        assert_eq!(
            reply.error_message(),
            "Missing required parameter 'settings'."
        );
    }
    assert!(h.ops.calls().is_empty());
}

#[tokio::test]
async fn store_and_settings_updates() {
    let h = harness();
    let reply = h
        .post(
            &format!("{DR}/settings/update"),
            "settings=%7B%22timeoutInSeconds%22%3A7200%7D",
        )
        .await;
    assert_eq!(reply.json(), json!({"status": "success"}));
    let reply = h
        .post(
            &format!("{DR}/stores/s1/update"),
            "settings=%7B%22default%22%3Atrue%7D",
        )
        .await;
    assert_eq!(reply.json(), json!({"status": "success"}));
    let reply = h.post(&format!("{DR}/stores/s1/unregister"), "").await;
    assert_eq!(reply.json(), json!({"status": "success"}));
    assert_eq!(
        h.ops.calls(),
        vec![
            json!({"op": "update_settings", "settings": {"timeoutInSeconds": 7200}}),
            json!({"op": "update_store", "store": "s1", "settings": {"default": true}}),
            json!({"op": "unregister", "store": "s1"}),
        ]
    );
    let ready = h.post(&format!("{DR}/stores/ready/validate"), "").await;
    assert_eq!(ready.json(), json!({"isReady": true, "status": "success"}));
    let not_ready = h.post(&format!("{DR}/stores/s1/validate"), "").await;
    assert_eq!(
        not_ready.json(),
        json!({"isReady": false, "status": "success"})
    );
}

#[tokio::test]
async fn backup_update_restore_delete() {
    let h = harness();
    let backup = format!("{DR}/stores/s1/backups/b1");
    assert_eq!(
        h.post(&format!("{backup}/update"), "retentionDate=-1")
            .await
            .json(),
        json!({"status": "success"})
    );
    let missing = h.post(&format!("{backup}/update"), "").await;
    assert_eq!(
        missing.error_message(),
        "Missing required parameter 'retentionDate'."
    );

    let wrong = h
        .post(
            &format!("{backup}/restore"),
            "passcode=not-the-one&storeName=s1",
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.error_message().as_str()),
        (StatusCode::BAD_REQUEST, "The passcode is incorrect.")
    );
    let restored = h
        .post(&format!("{backup}/restore"), "passcode=right-passcode")
        .await;
    // The reference's answer, plus the job to follow.
    assert_eq!(
        restored.json(),
        json!({"status": "success", "jobid": "j456",
               "jobsUrl": "https://127.0.0.1:6443/arcgis/admin/jobs/j456"})
    );

    assert_eq!(
        h.post(&format!("{backup}/delete"), "").await.json(),
        json!({"status": "success"})
    );
    let deferred = h.post(&format!("{backup}/delete"), "async=True").await;
    assert_eq!(
        deferred.json()["jobsUrl"],
        "https://127.0.0.1:6443/arcgis/admin/jobs/j789"
    );
    let calls = h.ops.calls();
    assert_eq!(
        calls[0],
        json!({"op": "update_backup", "store": "s1", "backup": "b1", "retentionDate": -1})
    );
    assert_eq!(calls[1]["operationURI"], format!("{backup}/restore"));
    assert_eq!(calls[2]["async"], false);
    assert_eq!(calls[3]["async"], true);
}

// ---- legacy 10.9 paths ---------------------------------------------------

const LEGACY: &str = "/arcgis/admin/system/disasterrecovery/backuprestore";

#[tokio::test]
async fn legacy_create_uses_store_name_or_the_default_store() {
    let h = harness();
    let path = format!("{LEGACY}/backup");
    let reply = h
        .post(
            &path,
            "name=nightly&passcode=12345678&description=Old+client&retentionDate=-1",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["jobid"], "j123");
    assert_eq!(reply.json()["status"], "SUBMITTED");
    let reply = h
        .post(&path, "name=other&passcode=12345678&storeName=s1")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let calls = h.ops.calls();
    assert_eq!(
        calls[0],
        json!({"op": "create", "store": "default", "name": "nightly", "passcode": "12345678",
                "description": "Old client", "retentionDate": -1, "username": "admin",
                "operationURI": path})
    );
    assert_eq!(calls[1]["store"], "s1");

    // Same validation and error format as the 10.9.1 operation.
    let short = h.post(&path, "name=b&passcode=1234567").await;
    assert_eq!(
        (short.status, short.error_message().as_str()),
        (
            StatusCode::BAD_REQUEST,
            "The passcode must be at least eight characters in length."
        )
    );
    let busy = h
        .post(&path, "name=b&passcode=12345678&storeName=busy")
        .await;
    assert_eq!(busy.error_code(), 409);
    let hostile = h
        .post(&path, "name=b&passcode=12345678&storeName=..%2Fetc")
        .await;
    assert_eq!(hostile.status, StatusCode::BAD_REQUEST, "{}", hostile.text);
    assert_eq!(h.ops.calls().len(), 2);
    assert_eq!(
        h.send(request(Method::GET, &path, None, &[])).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn legacy_resources_and_operations() {
    let h = harness();
    assert_eq!(
        h.get(&format!("{LEGACY}/backups")).await.json(),
        json!({"backups": [fake_backup("b1", "")]})
    );
    let missing = h
        .post(&format!("{LEGACY}/backups"), "storeName=missing")
        .await;
    assert_eq!(
        (missing.status, missing.error_message().as_str()),
        (
            StatusCode::NOT_FOUND,
            "Backup store 'missing' was not found."
        )
    );
    assert_eq!(
        h.get(&format!("{LEGACY}/backups/b1")).await.json()["backupName"],
        "b1"
    );
    assert_eq!(
        h.get(&format!("{LEGACY}/status")).await.json(),
        h.get(&format!("{DR}/status")).await.json()
    );

    let backup = format!("{LEGACY}/backups/b1");
    let wrong = h
        .post(&format!("{backup}/restore"), "passcode=nope&storeName=s1")
        .await;
    assert_eq!(
        (wrong.status, wrong.error_message().as_str()),
        (StatusCode::BAD_REQUEST, "The passcode is incorrect.")
    );
    let restored = h
        .post(
            &format!("{backup}/restore"),
            "passcode=right-passcode&storeName=s1&partial=true",
        )
        .await;
    assert_eq!(restored.json()["jobid"], "j456");
    assert_eq!(restored.json()["status"], "success");
    assert_eq!(
        h.post(&format!("{backup}/delete"), "storeName=s2")
            .await
            .json(),
        json!({"status": "success"})
    );
    let calls = h.ops.calls();
    assert_eq!(
        calls[0],
        json!({"op": "restore", "store": "s1", "backup": "b1", "username": "admin",
                "operationURI": format!("{backup}/restore"), "partial": true})
    );
    assert_eq!(
        calls[1],
        json!({"op": "delete", "store": "s2", "backup": "b1", "async": false})
    );
}

#[tokio::test]
async fn legacy_without_a_default_store_asks_for_store_name() {
    let h = harness();
    h.ops
        .without_default_store
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let reply = h
        .post(&format!("{LEGACY}/backup"), "name=b&passcode=12345678")
        .await;
    assert_eq!(
        (reply.status, reply.error_message().as_str()),
        (
            StatusCode::NOT_FOUND,
            "No default backup store is registered; pass storeName."
        )
    );
    assert!(h.ops.calls().is_empty());
}

#[tokio::test]
async fn legacy_root_renders_like_other_resources() {
    let h = harness();
    let uri = format!("{LEGACY}?token={}", h.token);
    let html = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.text.starts_with("<!DOCTYPE html>"), "{}", html.text);
    for link in [
        "backuprestore/backups?f=html",
        "backuprestore/status?f=html",
        "action=\"/arcgis/admin/system/disasterrecovery/backuprestore/backup\"",
        "name=\"storeName\"",
    ] {
        assert!(html.text.contains(link), "{link} missing: {}", html.text);
    }
    let uri = format!("{LEGACY}/backups/b1?token={}", h.token);
    let html = h.send(request(Method::GET, &uri, None, &[])).await;
    assert!(
        html.text.contains(
            "action=\"/arcgis/admin/system/disasterrecovery/backuprestore/backups/b1/restore\""
        ),
        "{}",
        html.text
    );
}

#[tokio::test]
async fn legacy_operations_need_the_same_privileges() {
    let h = harness();
    h.auth
        .ensure_user("viewer", crate::Role::Viewer, "viewer-password-1")
        .expect("viewer");
    let viewer = h
        .auth
        .issue_token("viewer", std::time::Duration::from_secs(600))
        .expect("token")
        .token;
    let post = |path: String, body: &str| {
        let body = format!("{body}&f=json&token={viewer}");
        request(Method::POST, &path, Some(&body), &[])
    };
    let create = h
        .send(post(format!("{LEGACY}/backup"), "name=b&passcode=12345678"))
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN, "{}", create.text);
    let restore = h
        .send(post(
            format!("{LEGACY}/backups/b1/restore"),
            "passcode=right-passcode",
        ))
        .await;
    assert_eq!(restore.status, StatusCode::FORBIDDEN);
    let list = h.send(post(format!("{LEGACY}/backups"), "")).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(h.ops.calls().is_empty());
}

// ---- errors --------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_and_resources_are_404() {
    let h = harness();
    for path in [
        "/",
        "/arcgis/admin/nope",
        "/other/admin",
        &format!("{DR}/stores/s1/backups/b1/nope"),
    ] {
        let reply = h.get(path).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::NOT_FOUND, 404),
            "{path}"
        );
    }
    let reply = h.get(&format!("{DR}/stores/missing")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.error_message(),
        "Backup store 'missing' was not found."
    );
    assert_eq!(
        h.get(&format!("{DR}/stores/missing/backups")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get("/arcgis/admin/jobs/j404").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let h = harness();
    let reply = h.get(&format!("{DR}/stores/register")).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::METHOD_NOT_ALLOWED, 405)
    );
    assert_eq!(reply.headers[header::ALLOW], "POST");
    let uri = format!("{DR}/stores?f=json&token={}", h.token);
    let reply = h.send(request(Method::DELETE, &uri, None, &[])).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers[header::ALLOW], "GET, POST");
}

#[tokio::test]
async fn internal_errors_are_500() {
    let h = harness();
    let reply = h
        .post(
            &format!("{DR}/settings/update"),
            "settings=%7B%22fail%22%3A1%7D",
        )
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": 500, "message": "The settings could not be saved.", "details": []}})
    );
}

#[tokio::test]
async fn panicking_op_is_500_and_router_keeps_serving() {
    let h = harness();
    let reply = h.get(&format!("{DR}/stores/boom")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": 500, "message": "Internal server error.", "details": []}})
    );
    assert!(!reply.text.contains("exploded"));
    assert_eq!(
        h.get(&format!("{DR}/stores/s1")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.get(&format!("{DR}/stores/boom")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let h = harness_with(ApiConfig {
        max_body_bytes: 1024,
        ..ApiConfig::default()
    });
    let path = format!("{DR}/settings/update");
    let big = format!("f=json&token={}&settings={}", h.token, "x".repeat(2000));
    let reply = h.send(request(Method::POST, &path, Some(&big), &[])).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::PAYLOAD_TOO_LARGE, 413)
    );
    let length = big.len().to_string();
    let reply = h
        .send(request(
            Method::POST,
            &format!("{path}?f=json"),
            Some(&big),
            &[("Content-Length", &length)],
        ))
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::PAYLOAD_TOO_LARGE, 413)
    );
    // The default limit is 1 MiB.
    let h = harness();
    let huge = format!(
        "f=json&token={}&settings={}",
        h.token,
        "x".repeat((1 << 20) + 1)
    );
    let reply = h.send(request(Method::POST, &path, Some(&huge), &[])).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.ops.calls().is_empty());
}

#[tokio::test]
async fn non_form_bodies_are_415() {
    let h = harness();
    let uri = format!("{DR}/settings/update?f=json&token={}", h.token);
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"settings":{}}"#))
        .expect("request");
    let reply = h.send(request).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, 415)
    );
}

#[tokio::test]
async fn hostile_names_are_refused_cleanly() {
    let h = harness();
    let long = "a".repeat(10_000);
    let bad_segments = [
        "..",
        ".",
        "a%2Fb",
        "%2F",
        "a%00b",
        "%5C",
        long.as_str(),
        "%0A",
    ];
    for segment in bad_segments {
        for path in [
            format!("{DR}/stores/{segment}"),
            format!("{DR}/stores/{segment}/backups"),
            format!("{DR}/stores/s1/backups/{segment}"),
            format!("/arcgis/admin/jobs/{segment}"),
        ] {
            let reply = h.get(&path).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{}",
                &path[..path.len().min(120)]
            );
            assert_eq!(reply.error_code(), 400);
            assert!(!reply.text.contains("aaaaaaaa"));
        }
        let reply = h
            .post(
                &format!("{DR}/stores/s1/backups/{segment}/restore"),
                "passcode=right-passcode",
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    for body in [
        format!("name={long}&passcode=12345678"),
        "name=..&passcode=12345678".to_owned(),
        "name=a%2Fb&passcode=12345678".to_owned(),
        "name=a%00&passcode=12345678".to_owned(),
    ] {
        let reply = h
            .post(&format!("{DR}/stores/s1/backups/create"), &body)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    // Raw extra segments and bad UTF-8 never reach the ops either.
    assert_eq!(
        h.get(&format!("{DR}/stores/a/b")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get(&format!("{DR}/stores/%FF")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get(&format!("{DR}/stores//backups")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(h.ops.calls().is_empty());
}

#[tokio::test]
async fn custom_context() {
    let h = harness_with(ApiConfig {
        context: "/portal/x/".into(),
        ..ApiConfig::default()
    });
    assert_eq!(h.get("/portal/x/admin/jobs").await.status, StatusCode::OK);
    assert_eq!(
        h.get("/arcgis/admin/jobs").await.status,
        StatusCode::NOT_FOUND
    );
    let reply = h
        .post(
            "/portal/x/admin/system/disasterrecovery/stores/s1/backups/create",
            "name=b&passcode=12345678",
        )
        .await;
    assert_eq!(
        reply.json()["jobsUrl"],
        "https://127.0.0.1:6443/portal/x/admin/jobs/j123"
    );
}

#[tokio::test]
async fn task_pages_have_a_schedule_form() {
    let h = harness();
    let uri = format!("/arcgis/admin/system/tasks?token={}", h.token);
    let html = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(html.status, StatusCode::OK, "{}", html.text);
    for needle in [
        "action=\"/arcgis/admin/system/tasks/createTask\"",
        "name=\"parameters\"",
        "name=\"dayOfWeek\"",
        "value=\"CreateBackup\"",
    ] {
        assert!(
            html.text.contains(needle),
            "{needle} missing: {}",
            html.text
        );
    }
}

/// `backups/<b>/validate` (the ArcGIS API for Python's `Backup.validate()`,
/// posted to the 10.9 path without a passcode) starts a validation job and
/// answers success with it; with a passcode it is a verify.
#[tokio::test]
async fn backup_validate_starts_a_job_with_or_without_a_passcode() {
    let h = harness();
    let legacy = h.post(&format!("{LEGACY}/backups/b1/validate"), "").await;
    assert_eq!(legacy.status, StatusCode::OK, "{}", legacy.text);
    assert_eq!(
        legacy.json(),
        json!({"status": "success", "jobid": "j321",
               "jobsUrl": "https://127.0.0.1:6443/arcgis/admin/jobs/j321"})
    );
    let path = format!("{DR}/stores/s1/backups/b1/validate");
    let current = h.post(&path, "passcode=12345678").await;
    assert_eq!(current.json()["jobid"], "j321");
    let calls = h.ops.calls();
    assert_eq!(
        calls,
        vec![
            json!({"op": "validate", "store": "default", "backup": "b1", "passcode": null,
                   "operationURI": format!("{LEGACY}/backups/b1/validate")}),
            json!({"op": "validate", "store": "s1", "backup": "b1", "passcode": "12345678",
                   "operationURI": path}),
        ]
    );
    assert_eq!(
        h.send(request(Method::GET, &path, None, &[])).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}
