use super::*;

/// The types of the built-in adapters, and a configured directory type.
fn builtin_types() -> StoreTypes {
    let mut types = super::super::store_types(&crate::config::AdapterConfig::builtins());
    types.insert("DIR_TEMPLATE".into(), AdapterMedium::Directory);
    types.insert("MINE".into(), AdapterMedium::Http);
    types
}

fn registry(dir: &Path) -> StoreRegistry {
    StoreRegistry::open(dir, vec![dir.join("stores")], builtin_types()).expect("open")
}

#[test]
fn a_default_store_exists_and_default_moves_on_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(dir.path());
    assert!(reg.get("default").expect("default").default);
    reg.register("second", &json!({"type": "HOSTED"}), false)
        .expect("register");
    reg.update("second", &json!({"default": true}))
        .expect("update");
    assert!(!reg.get("default").expect("default").default);
    assert!(reg.get("second").expect("second").default);
    // Persisted.
    let again = registry(dir.path());
    assert!(again.get("second").expect("second").default);
}

#[test]
fn bad_names_types_and_paths_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(dir.path());
    for name in ["", "../x", "a/b", "a\0b", &"x".repeat(65)] {
        assert!(reg.register(name, &json!({}), false).is_err(), "{name:?}");
    }
    assert!(reg.register("s3", &json!({"type": "S3"}), false).is_err());
    assert!(
        reg.register("az", &json!({"type": "AZURE_BLOBSTORE"}), false)
            .is_err()
    );
    assert!(
        reg.register("out", &json!({"rootDir": "/etc"}), false)
            .is_err()
    );
    assert!(
        reg.register("up", &json!({"rootDir": "../../x"}), false)
            .is_err()
    );
    assert!(matches!(
        reg.register("default", &json!({}), false),
        Err(StoreRegistryError::Exists(_))
    ));
}

/// The message of a refused registration, which must be an overlap.
fn overlap(reg: &StoreRegistry, name: &str, root: &Path) -> String {
    let settings = json!({"rootDir": root.display().to_string()});
    match reg.register(name, &settings, false) {
        Err(e @ StoreRegistryError::Overlaps { .. }) => e.to_string(),
        other => panic!(
            "{} was not refused as an overlap: {other:?}",
            root.display()
        ),
    }
}

#[test]
fn a_store_directory_never_overlaps_another_store_or_the_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().canonicalize().expect("canonical");
    let state = base.join("state");
    let stores = state.join("stores");
    // A second root around the state directory, so only the overlap
    // checks (not the store-root containment) refuse what follows.
    let reg = StoreRegistry::open(&state, vec![stores.clone(), base.clone()], builtin_types())
        .expect("open");
    let default = stores.join("default");
    assert_eq!(
        reg.get("default").expect("default").hosted_root(),
        Some(default.as_path())
    );

    let inside = overlap(&reg, "inner", &default.join("packs"));
    assert!(
        inside.contains("lies inside the directory of backup store 'default'"),
        "{inside}"
    );
    let same = overlap(&reg, "same", &default);
    assert!(
        same.contains("is the directory of backup store 'default'"),
        "{same}"
    );
    let around = overlap(&reg, "around", &state);
    assert!(
        around.contains("contains the directory of backup store 'default'"),
        "{around}"
    );
    let root = overlap(&reg, "root", &stores);
    assert!(
        root.contains("the directory of backup store 'default'"),
        "{root}"
    );
    let jobs = overlap(&reg, "jobs", &state.join("jobs"));
    assert!(
        jobs.contains("lies inside the host's state directory"),
        "{jobs}"
    );

    // Through a symlink: judged by where it points.
    std::os::unix::fs::symlink(&default, base.join("link")).expect("symlink");
    let linked = overlap(&reg, "linked", &base.join("link/sub"));
    assert!(
        linked.contains("resolves to") && linked.contains("store 'default'"),
        "{linked}"
    );

    // Component-wise: a sibling whose name extends another's is fine.
    let sibling = reg
        .register("default2", &json!({"rootDir": "default2"}), false)
        .expect("sibling");
    assert_eq!(
        sibling.hosted_root(),
        Some(stores.join("default2").as_path())
    );
    reg.register(
        "team-a",
        &json!({"rootDir": base.join("team/a").display().to_string()}),
        false,
    )
    .expect("team/a");
    let outer = overlap(&reg, "team", &base.join("team"));
    assert!(
        outer.contains("contains the directory of backup store 'team-a'"),
        "{outer}"
    );
}

#[test]
fn a_symlink_inside_the_store_roots_cannot_lead_out_of_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().canonicalize().expect("canonical");
    let reg = registry(&base);
    let outside = base.join("elsewhere");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::os::unix::fs::symlink(&outside, base.join("stores/escape")).expect("symlink");
    let err = reg
        .register("escape", &json!({"rootDir": "escape"}), false)
        .expect_err("escape");
    assert!(
        matches!(err, StoreRegistryError::OutsideStoreRoots(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("resolves to"), "{err}");

    // A link that stays inside the roots is followed, and the store
    // keeps the directory it leads to.
    std::fs::create_dir_all(base.join("stores/real")).expect("mkdir");
    std::os::unix::fs::symlink(base.join("stores/real"), base.join("stores/alias"))
        .expect("symlink");
    let record = reg
        .register("alias", &json!({"rootDir": "alias"}), false)
        .expect("alias");
    assert_eq!(
        record.hosted_root(),
        Some(base.join("stores/real").as_path())
    );
}

#[test]
fn the_state_directory_cannot_be_a_store_root_for_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().canonicalize().expect("canonical");
    let err = StoreRegistry::open(&state, vec![state.clone()], builtin_types())
        .err()
        .expect("the default store would lie among the host's state files");
    assert!(
        err.to_string().contains("the host's state directory"),
        "{err}"
    );
}

#[test]
fn default_false_hands_the_default_on_and_is_refused_only_for_the_last_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(dir.path());
    let err = reg
        .update("default", &json!({"default": false}))
        .expect_err("the only store");
    assert!(matches!(err, StoreRegistryError::LastDefault(_)), "{err:?}");
    assert!(err.to_string().contains("only store"), "{err}");
    reg.register("second", &json!({}), false).expect("register");
    // Not the default: nothing to do. Esri's CLI adds supportBDSBackup.
    reg.update(
        "second",
        &json!({"default": false, "supportBDSBackup": false}),
    )
    .expect("already not the default");
    assert!(reg.get("default").expect("default").default);
    reg.update("default", &json!({"default": "False"}))
        .expect("another store takes over");
    assert!(!reg.get("default").expect("default").default);
    assert!(reg.get("second").expect("second").default);
    assert_eq!(reg.list().iter().filter(|s| s.default).count(), 1);
    assert!(registry(dir.path()).get("second").expect("second").default);
}

#[test]
fn names_differing_only_in_case_are_one_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(dir.path());
    reg.register("Backups", &json!({}), false)
        .expect("register");
    let err = reg
        .register("backups", &json!({"rootDir": "elsewhere"}), false)
        .expect_err("same name but for case");
    assert!(
        matches!(err, StoreRegistryError::CaseClash { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("'Backups'"), "{err}");
    assert!(matches!(
        reg.register("DEFAULT", &json!({}), false),
        Err(StoreRegistryError::CaseClash { .. })
    ));
    assert_eq!(reg.list().len(), 2);
}

#[test]
fn storage_config_provisioning_types_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(dir.path());
    let err = reg
        .register(
            "pv",
            &json!({"type": "HOSTED", "storageConfig": {"provisioningType": "LAZY"}}),
            false,
        )
        .expect_err("not a provisioning type");
    assert!(err.to_string().contains("provisioningType"), "{err}");
    let record = reg
        .register(
            "pv",
            &json!({"type": "HOSTED", "storageConfig": {"provisioningType": "static",
                "storageClass": "gp3", "labels": {"arcgis/purpose": "backups"}}}),
            false,
        )
        .expect("STATIC");
    assert_eq!(record.storage_config["provisioningType"], "STATIC");
}

#[test]
fn unregistering_the_default_promotes_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(dir.path());
    reg.register("b", &json!({}), false).expect("register");
    reg.unregister("default").expect("unregister");
    assert!(reg.get("b").expect("b").default);
    assert!(matches!(
        reg.unregister("default"),
        Err(StoreRegistryError::NotFound(_))
    ));
}

#[test]
fn unknown_keys_and_types_are_refused_naming_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(dir.path());
    let err = reg
        .register("x", &json!({"type": "HOSTED", "plugin": "/x.wasm"}), false)
        .expect_err("unknown key");
    assert!(err.to_string().contains("unknown key 'plugin'"), "{err}");
    let err = reg
        .register("x", &json!({"type": "AZURE_BLOBSTORE"}), false)
        .expect_err("no adapter");
    assert!(
        err.to_string().contains("not served by any store adapter")
            && err.to_string().contains("DIR_TEMPLATE"),
        "{err}"
    );
    let custom = reg
        .register(
            "t",
            &json!({"type": "dir_template", "config": {"fanout": 2}, "secret": {"k": "v"}}),
            false,
        )
        .expect("configured directory type");
    assert_eq!(custom.kind(), "DIR_TEMPLATE");
    assert!(custom.hosted_root().is_some());
    assert_eq!(custom.adapter_settings.config["fanout"], 2);
    let err = reg
        .register("e", &json!({"type": "MINE"}), false)
        .expect_err("no endpoint");
    assert!(err.to_string().contains("settings.endpoint"), "{err}");
    let endpoint = reg
        .register(
            "e",
            &json!({"type": "MINE", "endpoint": "https://s.example:8443/"}),
            false,
        )
        .expect("endpoint type");
    assert_eq!(
        endpoint.endpoint().map(|(url, _)| url.to_string()),
        Some("https://s.example:8443".into())
    );
    let err = reg
        .register(
            "f",
            &json!({"type": "MINE", "endpoint": "https://s.example", "config": 3}),
            false,
        )
        .expect_err("config not an object");
    assert!(
        err.to_string()
            .contains("settings.config must be a JSON object"),
        "{err}"
    );
}

#[test]
fn cloud_stores_sharing_objects_are_refused_naming_the_other_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut types = builtin_types();
    types.insert("AZURE_BLOBSTORE".into(), AdapterMedium::Http);
    let reg =
        StoreRegistry::open(dir.path(), vec![dir.path().join("stores")], types).expect("open");
    let s3 = |root: &str| {
        json!({"type": "S3", "provider": {"name": "AWS", "cloudServices": [{
            "name": "AWS S3", "type": "objectStore", "usage": "BACKUP", "category": "storage",
            "connection": {"bucketName": "bkt", "region": "us-east-1", "rootDir": root,
                "endpoint": "https://s3.example.com",
                "credential": {"type": "ACCESS-KEY",
                    "secret": {"access_key": "AKIA", "secret_key": "s"}}}}]}})
    };
    let azure = |root: &str| {
        json!({"type": "AZURE_BLOBSTORE", "provider": {"name": "AZURE", "cloudServices": [{
            "name": "Azure Blob Store", "type": "objectStore", "usage": "BACKUP",
            "category": "storage", "connection": {"containerName": "drc", "rootDir": root,
                "credential": {"type": "SAS-TOKEN",
                    "secret": {"storageAccountName": "acct1", "sasToken": "sig=x"}}}}]}})
    };
    reg.register("s3a", &s3("team/a"), false).expect("s3a");
    reg.register("s3b", &s3("team/b"), false).expect("s3b");
    let err = reg
        .register("s3c", &s3("team/a/packs"), false)
        .expect_err("inside s3a");
    assert!(
        err.to_string()
            .contains("overlaps backup store 's3a' (rootDir 'team/a')")
            && err.to_string().contains("stores must not share objects"),
        "{err}"
    );
    reg.register("aza", &azure("team/a"), false).expect("aza");
    let err = reg
        .register("azb", &azure("team"), false)
        .expect_err("around aza");
    assert!(
        err.to_string()
            .contains("container drc (rootDir 'team') of storage account acct1")
            && err
                .to_string()
                .contains("overlaps backup store 'aza' (rootDir 'team/a')")
            && err.to_string().contains("stores must not share objects"),
        "{err}"
    );
    assert!(reg.get("s3c").is_err() && reg.get("azb").is_err());
}
