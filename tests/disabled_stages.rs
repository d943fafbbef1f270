//! A stage whose plugin cannot be loaded (missing file, not a component, a
//! component of the other world, a `describe` that never returns) does not
//! stop the host: the stage is disabled, `system/plugins` says why, and a
//! backup fails that stage at its turn, naming the reason, keeping the good
//! stages as a partial backup.

use crate::support;

use drhost::plugins::built_component;
use support::hostile::{failure, run_hostile_backup};
use support::{Deployment, TestHost, message_codes};

/// `[[stage]]` `name` running `plugin`, with a source so a backup would run it.
fn stage(deployment: &Deployment, name: &str, plugin: &str, limits: &str) -> String {
    format!(
        "\n[[stage]]\nname = \"{name}\"\nplugin = \"{plugin}\"\nsource = \"{}\"\nlimits = {limits}\n",
        deployment.config_dir().display()
    )
}

#[test]
fn broken_stage_plugins_are_disabled_shown_and_fail_their_stage_in_a_backup() {
    let deployment = Deployment::new();
    deployment.populate();
    let missing = deployment.path().join("no-such-plugin.wasm");
    let junk = deployment.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not a WebAssembly component").expect("write junk");
    let adapter = built_component("store_fs");
    let spinning = built_component("testing_spin_describe");
    let broken = [
        stage(
            &deployment,
            "Stage missing",
            &missing.display().to_string(),
            "{}",
        ),
        stage(&deployment, "Stage junk", &junk.display().to_string(), "{}"),
        stage(
            &deployment,
            "Stage adapter",
            &adapter.display().to_string(),
            "{}",
        ),
        stage(
            &deployment,
            "Stage spinning",
            &spinning.display().to_string(),
            "{ cpu_seconds = 1, wall_seconds = 30 }",
        ),
    ]
    .concat();
    let host = TestHost::start(&deployment, &deployment.config_toml(&broken));

    for good in ["Stage Object store", "Stage system configuration"] {
        let good = host.plugin(good);
        assert_eq!(good["status"], "enabled", "{good}");
        assert!(good.get("reason").is_none(), "{good}");
    }
    let expected = [
        ("Stage missing", "no-such-plugin.wasm"),
        ("Stage junk", "junk"),
        ("Stage adapter", "store adapter"),
        ("Stage spinning", "CPU time limit of 1 s"),
    ];
    for (name, reason) in expected {
        let row = host.plugin(name);
        assert_eq!(row["status"], "disabled", "{row}");
        let shown = row["reason"].as_str().unwrap_or_default();
        assert!(
            shown.contains(reason),
            "{name}: {reason:?} not in {shown:?}"
        );
        assert_eq!(row["version"], "", "{row}");
    }
    // The one whose file is read has its digest; the missing one has none.
    assert_eq!(host.plugin("Stage missing")["digest"], "");
    assert!(
        host.plugin("Stage adapter")["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    // Logged at error level, once per stage.
    let log = host.log();
    for (name, _) in expected {
        let lines = log
            .lines()
            .filter(|l| l.contains("stage disabled") && l.contains(name))
            .count();
        assert_eq!(lines, 1, "{name} in log:\n{log}");
    }

    let (job, _) = run_hostile_backup(&host, "with-broken");
    let message = failure(&job);
    for (name, reason) in expected {
        assert!(message.contains(name), "{name} not in {message}");
        assert!(message.contains(reason), "{reason:?} not in {message}");
    }
    assert!(message.contains("disabled"), "{message}");
    assert!(
        message.contains("partial backup 'with-broken'"),
        "{message}"
    );
    assert!(message_codes(&host.status()).contains(&4029));

    let backups = host.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(backups[0]["status"], "partial", "{}", backups[0]);
    let failed: Vec<&str> = backups[0]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter(|s| s["status"] == "failed")
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "Stage missing",
            "Stage junk",
            "Stage adapter",
            "Stage spinning"
        ]
    );
}
