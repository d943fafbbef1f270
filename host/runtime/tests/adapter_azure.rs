//! The `store-azure` adapter (loaded by path, like a third-party plugin)
//! against a real Azurite Blob service, through the repository's
//! `ObjectStore` trait: Shared Key and SAS round trips, ranges, listings past
//! a page, and the refusals an operator sees at registration.

mod common;

use bytes::Bytes;
use drhost_repo::{ObjectStore, StoreError};

use drhost_runtime::{AdapterStore, Grants, PluginContext, PluginLimits};

use common::azurite::{ACCOUNT, Azurite, KEY};
use common::{plugin_wasm, runtime};

/// The adapter's configuration for `container` below `prefix`.
fn config(endpoint: &str, container: &str, prefix: &str, credential: serde_json::Value) -> String {
    serde_json::json!({
        "endpoint": endpoint,
        "appendOnly": false,
        "account": ACCOUNT,
        "container": container,
        "prefix": prefix,
        "credential": credential,
    })
    .to_string()
}

fn shared_key() -> serde_json::Value {
    serde_json::json!({"type": "shared-key", "key": KEY})
}

/// A store granted exactly `authority` for `wasi:http`.
async fn store(config_json: String, authority: &str, secret: &str) -> AdapterStore {
    let adapter = runtime()
        .load_adapter("store-azure", &plugin_wasm("store_azure.wasm"))
        .await
        .expect("store_azure.wasm loads");
    AdapterStore::new(
        adapter,
        PluginContext {
            config_json,
            grants: Grants {
                http_connect: vec![authority.to_owned()],
                ..Grants::default()
            },
            limits: PluginLimits::default(),
            secrets: vec![secret.to_owned()],
        },
    )
}

async fn round_trip(store: &AdapterStore, objects: usize) {
    store.validate().await.expect("validate");
    // 3 MiB crosses the 1 MiB source reads and sink writes.
    let big: Bytes = (0..3u32 << 20)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    store.put("packs/ab/big", big.clone()).await.unwrap();
    assert_eq!(store.get("packs/ab/big", 0, None).await.unwrap(), big);
    assert_eq!(
        store.get("packs/ab/big", 1000, Some(5000)).await.unwrap(),
        big.slice(1000..6000)
    );
    let end = big.len() as u64;
    assert_eq!(
        store.get("packs/ab/big", end - 7, None).await.unwrap(),
        big.slice(big.len() - 7..)
    );
    assert!(
        store
            .get("packs/ab/big", end, None)
            .await
            .unwrap()
            .is_empty()
    );
    for (offset, length) in [(end - 10, Some(11)), (end + 1, None), (end, Some(1))] {
        let err = store
            .get("packs/ab/big", offset, length)
            .await
            .expect_err("a range outside the object");
        assert!(err.to_string().contains("(invalid data)"), "{err}");
    }
    let info = store.stat("packs/ab/big").await.unwrap().unwrap();
    assert_eq!(info.size, end);
    assert!(store.stat("packs/ab/missing").await.unwrap().is_none());
    assert!(matches!(
        store.get("packs/ab/missing", 0, None).await,
        Err(StoreError::NotFound(n)) if n == "packs/ab/missing"
    ));
    store.put("packs/ab/empty", Bytes::new()).await.unwrap();
    // Past 4 MiB the adapter puts blocks and commits them as a list; a
    // second put replaces the blob whole.
    for modulus in [253u32, 241] {
        let blocks: Bytes = (0..(9u32 << 20) + 3)
            .map(|i| (i % modulus) as u8)
            .collect::<Vec<u8>>()
            .into();
        store.put("packs/cd/blocks", blocks.clone()).await.unwrap();
        assert_eq!(store.get("packs/cd/blocks", 0, None).await.unwrap(), blocks);
        assert_eq!(
            store
                .get("packs/cd/blocks", (4 << 20) - 2, Some(5))
                .await
                .unwrap(),
            blocks.slice((4 << 20) - 2..(4 << 20) + 3)
        );
    }
    assert!(
        store
            .get("packs/ab/empty", 0, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Several List Blobs pages: the host pages with start-after, which the
    // adapter emulates by skipping.
    for i in 0..objects {
        store
            .put(&format!("index/{i:05}"), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    let listed = store.list("index/").await.unwrap();
    assert_eq!(listed.len(), objects);
    assert!(listed.windows(2).all(|w| w[0].name < w[1].name));
    assert_eq!(listed[7].name, "index/00007");
    assert_eq!(listed[7].size, 1);
    assert_eq!(store.list("").await.unwrap().len(), objects + 3);
    assert!(store.list("nothing/").await.unwrap().is_empty());

    store.delete("packs/ab/big").await.unwrap();
    assert!(store.stat("packs/ab/big").await.unwrap().is_none());
    // Deleting a missing object succeeds.
    store.delete("packs/ab/big").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_key_and_sas_round_trips_against_azurite() {
    let azurite = Azurite::start();
    azurite.create_container("backups");
    let started = std::time::Instant::now();
    let keyed = store(
        config(&azurite.endpoint(), "backups", "team/a", shared_key()),
        &azurite.authority(),
        KEY,
    )
    .await;
    round_trip(&keyed, 2500).await;
    eprintln!(
        "shared-key round trip with 2500 objects: {:?}",
        started.elapsed()
    );

    // The prefix keeps stores apart in one container.
    let (status, listing) = azurite.send(
        "GET",
        "backups",
        &[
            ("restype", "container"),
            ("comp", "list"),
            ("prefix", "team/a/index/00042"),
        ],
        &[],
    );
    assert_eq!(status, 200);
    assert!(
        listing.contains("<Name>team/a/index/00042</Name>"),
        "{listing}"
    );

    let token = azurite.account_sas("rwdlac", "2099-01-01T00:00:00Z");
    let sas = store(
        config(
            &azurite.endpoint(),
            "backups",
            "team/b",
            serde_json::json!({"type": "sas", "token": token}),
        ),
        &azurite.authority(),
        &token,
    )
    .await;
    round_trip(&sas, 30).await;
    // Team a's objects are still there, and not in team b's listing.
    assert_eq!(keyed.list("index/").await.unwrap().len(), 2500);

    // No prefix: the container's root, where the other stores' blobs show.
    let root = store(
        config(&azurite.endpoint(), "backups", "", shared_key()),
        &azurite.authority(),
        KEY,
    )
    .await;
    root.validate().await.unwrap();
    root.put("top", Bytes::from_static(b"top")).await.unwrap();
    assert_eq!(root.stat("top").await.unwrap().unwrap().size, 3);
    let listed = root.list("t").await.unwrap();
    let names: Vec<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    let others = keyed.list("").await.unwrap().len() + sas.list("").await.unwrap().len();
    assert_eq!(names.len(), others + 1, "team/a's, team/b's and top");
    assert_eq!(names.last(), Some(&"top"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_to_fix() {
    let azurite = Azurite::start();
    azurite.create_container("backups");
    let endpoint = azurite.endpoint();
    let authority = azurite.authority();

    // A wrong account key (valid base64, another key).
    let wrong_key =
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    let wrong = store(
        config(
            &endpoint,
            "backups",
            "",
            serde_json::json!({"type": "shared-key", "key": wrong_key}),
        ),
        &authority,
        wrong_key,
    )
    .await;
    let err = wrong.validate().await.expect_err("a wrong key").to_string();
    // Azure says AuthenticationFailed, Azurite AuthorizationFailure.
    assert!(
        err.contains(&format!(
            "Azure refused the credentials of storage account '{ACCOUNT}' (Authorization"
        )) && err.contains("): check the account key"),
        "{err}"
    );
    assert!(!err.contains(wrong_key));

    // A SAS without the write permission passes the list, fails the probe.
    let token = azurite.account_sas("rl", "2099-01-01T00:00:00Z");
    let read_only = store(
        config(
            &endpoint,
            "backups",
            "",
            serde_json::json!({"type": "sas", "token": token}),
        ),
        &authority,
        &token,
    )
    .await;
    let err = read_only
        .validate()
        .await
        .expect_err("a read-only SAS")
        .to_string();
    assert!(err.contains("check the SAS token"), "{err}");
    assert!(!err.contains("sig="), "{err}");

    // A missing container, named.
    let missing = store(config(&endpoint, "nope", "", shared_key()), &authority, KEY).await;
    let err = missing
        .validate()
        .await
        .expect_err("a missing container")
        .to_string();
    assert!(
        err.contains(&format!(
            "container 'nope' does not exist in storage account '{ACCOUNT}'"
        )),
        "{err}"
    );

    // An authority the store does not grant: the host refuses the request.
    let denied = store(
        config(&endpoint, "backups", "", shared_key()),
        "127.0.0.1:9",
        KEY,
    )
    .await;
    let err = denied
        .validate()
        .await
        .expect_err("not granted")
        .to_string();
    assert!(err.contains("the host refused the connection to"), "{err}");
    assert!(matches!(denied.stat("x").await, Err(StoreError::Denied(_))));

    // Nothing listening at a granted endpoint: one text for every cause.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = store(
        config(
            &format!("http://127.0.0.1:{closed}/{ACCOUNT}"),
            "backups",
            "",
            shared_key(),
        ),
        &format!("127.0.0.1:{closed}"),
        KEY,
    )
    .await;
    let err = unreachable
        .validate()
        .await
        .expect_err("unreachable")
        .to_string();
    assert!(
        err.contains(&format!(
            "cannot reach the Azure Blob endpoint http://127.0.0.1:{closed}/{ACCOUNT}"
        )),
        "{err}"
    );

    // A configuration error names the field.
    let bad = store(
        config(&endpoint, "Bad_Name", "", shared_key()),
        &authority,
        KEY,
    )
    .await;
    let err = bad
        .validate()
        .await
        .expect_err("bad container name")
        .to_string();
    assert!(err.contains("`container`"), "{err}");
}
