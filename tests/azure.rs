//! Azure Blob stores (issue 17): the reference's `AZURE_BLOBSTORE` form, as
//! Esri's `register-az-backup-store` sends it, served by the `store-azure`
//! adapter (a component loaded from a file through an `[[adapter]]` entry,
//! like a third party's) against Azurite, Microsoft's emulator.

use crate::support;

use serde_json::{Value, json};
use support::azurite::{ACCOUNT, Azurite, KEY as ACCOUNT_KEY};
use support::{Deployment, TestHost, tree};

const STORE: &str = "azstore";
const CONTAINER: &str = "backups";

/// The configuration: loopback store endpoints allowed, and the Azure
/// adapter loaded from its built component.
fn azure_config(deployment: &Deployment) -> String {
    format!(
        "store_endpoints = [\"127.0.0.1\"]\n{}",
        deployment.config_toml(&format!(
            "\n[[adapter]]\nname = \"azure\"\nplugin = \"{}\"\nstore_type = \"AZURE_BLOBSTORE\"\n\
             limits = {{ memory_mib = 128 }}\n",
            drhost::plugins::built_component("store_azure").display()
        ))
    )
}

/// Esri's CLI form, with `credential` in place of its managed identity and
/// `accountEndpointUrl` as the one-element array the CLI sends.
fn settings(endpoint: &str, container: &str, credential: Value) -> String {
    json!({"type": "AZURE_BLOBSTORE", "provider": {"name": "AZURE", "cloudServices": [{
        "name": "Azure Blob Store", "type": "objectStore", "usage": "BACKUP",
        "connection": {"containerName": container, "rootDir": "drhost/backups",
                       "accountEndpointUrl": [endpoint], "credential": credential},
        "category": "storage"}]}})
    .to_string()
}

fn account_key(key: &str) -> Value {
    json!({"type": "STORAGE-ACCOUNT-KEY",
           "secret": {"storageAccountName": ACCOUNT, "storageAccountKey": key}})
}

#[test]
fn azure_store_round_trips_and_refuses_wrong_keys_and_missing_containers() {
    let azurite = Azurite::start();
    azurite.create_container(CONTAINER);
    let deployment = Deployment::new();
    deployment.populate();
    // Incompressible, so its pack is over 4 MiB and goes up in blocks.
    std::fs::write(
        deployment.objects().join("large.bin"),
        tree::pseudo_random(17, 7 << 20),
    )
    .expect("large file");
    let mut host = TestHost::start(&deployment, &azure_config(&deployment));

    // Refused at registration, with the reason, and nothing left registered.
    let wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    for (settings, reason) in [
        (
            settings(&azurite.endpoint(), CONTAINER, account_key(wrong_key)),
            "credentials",
        ),
        (
            settings(
                &azurite.endpoint(),
                "no-such-container",
                account_key(ACCOUNT_KEY),
            ),
            "container 'no-such-container' does not exist",
        ),
    ] {
        let (status, body) = host.register_store("refused", &settings);
        assert_eq!(status, 400, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{reason}: {message}");
        assert!(!message.contains(wrong_key), "{message}");
        let (status, _) = host.get("/system/disasterrecovery/stores/refused");
        assert_eq!(status, 404);
    }

    let (status, body) = host.register_store(
        STORE,
        &settings(&azurite.endpoint(), CONTAINER, account_key(ACCOUNT_KEY)),
    );
    assert_eq!(status, 200, "{body}");
    host.store = STORE.into();
    let (status, view) = host.get(&format!("/system/disasterrecovery/stores/{STORE}"));
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["type"], "AZURE_BLOBSTORE", "{view}");
    assert_eq!(view["bucketName"], CONTAINER, "{view}");
    assert_eq!(view["rootDir"], "drhost/backups", "{view}");
    assert!(!view.to_string().contains(ACCOUNT_KEY), "{view}");

    host.backup_ok("to-azure");
    let (status, listing) = azurite.send(
        "GET",
        CONTAINER,
        &[("comp", "list"), ("restype", "container")],
        &[],
    );
    assert_eq!(status, 200, "{listing}");
    let blobs: Vec<&str> = listing
        .split("<Name>")
        .skip(1)
        .filter_map(|rest| rest.split("</Name>").next())
        .collect();
    assert!(
        blobs.iter().any(|b| b.starts_with("drhost/backups/packs/")),
        "{blobs:?}"
    );
    let largest = listing
        .split("<Content-Length>")
        .skip(1)
        .filter_map(|rest| rest.split("</Content-Length>").next()?.parse::<u64>().ok())
        .max();
    assert!(largest > Some(4 << 20), "{largest:?}");
    let job = host.verify_job("to-azure");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let job = host.restore_job("to-azure");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    tree::assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    tree::assert_same_tree(&deployment.config_dir(), &deployment.restored_config());

    // A SAS token works too, and neither secret reaches the log.
    let sas = azurite.account_sas("racwdl", "2099-01-01T00:00:00Z");
    let sas_settings = settings(
        &azurite.endpoint(),
        "sas-backups",
        json!({"type": "SAS-TOKEN", "secret": {"storageAccountName": ACCOUNT, "sasToken": sas}}),
    );
    let (status, body) = host.register_store("azsas", &sas_settings);
    assert_eq!(status, 400, "a missing container first: {body}");
    azurite.create_container("sas-backups");
    let (status, body) = host.register_store("azsas", &sas_settings);
    assert_eq!(status, 200, "{body}");
    host.store = "azsas".into();
    host.backup_ok("with-sas");
    host.restart();
    let job = host.restore_job("with-sas");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let log = host.log();
    let signature = sas.rsplit("sig=").next().unwrap_or_default();
    assert!(
        !log.contains(ACCOUNT_KEY) && !log.contains(signature),
        "a secret reached the log"
    );
}
