//! The plugin kit as a third party uses it (issue 17): both templates
//! (`plugins/templates/`) copied out of the repository and built there
//! against `guest-sdk`, then configured as an `[[adapter]]` and a
//! `[[stage]]` of a real host; a store registered with the template adapter
//! through the API takes a backup that verifies and restores.

use crate::support;

#[path = "../host/runtime/tests/common/template.rs"]
mod template;

use serde_json::json;
use support::{Deployment, TestHost, tree};

#[test]
fn template_adapter_and_stage_built_out_of_tree_back_up_verify_and_restore() {
    let adapter = template::build_template("store-adapter");
    let stage = template::build_template("stage");
    let deployment = Deployment::new();
    deployment.populate();
    let app = deployment.path().join("app");
    let restored_app = deployment.path().join("restored/app");
    tree::write_sample_tree(&app, 3);
    std::fs::create_dir_all(&restored_app).expect("restore target");
    let extra = format!(
        r#"
[[stage]]
name = "Stage application files"
plugin = "{stage}"
source = "{app}"
target = "{restored_app}"

[[adapter]]
name = "dir-template"
plugin = "{adapter}"
store_type = "DIR_TEMPLATE"
medium = "directory"
"#,
        stage = stage.wasm.display(),
        app = app.display(),
        restored_app = restored_app.display(),
        adapter = adapter.wasm.display(),
    );
    let mut host = TestHost::start(&deployment, &deployment.config_toml(&extra));

    let (status, body) = host.post(
        "/system/disasterrecovery/stores/register",
        &[
            ("storeName", "third-party"),
            (
                "settings",
                &json!({"type": "DIR_TEMPLATE", "rootDir": "third-party"}).to_string(),
            ),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let template_adapter = host.plugin("dir-template");
    assert_eq!(template_adapter["status"], "enabled", "{template_adapter}");
    assert_eq!(template_adapter["component"], "file", "{template_adapter}");
    assert_eq!(
        template_adapter["capabilities"]["directories"][0]["guest"], "/store",
        "{template_adapter}"
    );
    let template_stage = host.plugin("Stage application files");
    assert_eq!(template_stage["status"], "enabled", "{template_stage}");

    host.store = "third-party".into();
    host.backup_ok("kit");
    let store_dir = deployment.state().join("stores/third-party");
    assert!(
        support::files_under(&store_dir)
            .iter()
            .any(|f| f.to_string_lossy().contains("packs")),
        "the template adapter wrote no packs under {}",
        store_dir.display()
    );
    let job = host.verify_job("kit");
    assert_eq!(job["status"], "COMPLETED", "{job}");

    let job = host.restore_job("kit");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    tree::assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    tree::assert_same_tree(&deployment.config_dir(), &deployment.restored_config());
    tree::assert_same_tree(&app, &restored_app);

    // A restart loads both from the compiled-component cache and lists the
    // backup from the template's store.
    host.restart();
    assert_eq!(host.backup_names(), ["kit"]);
}
