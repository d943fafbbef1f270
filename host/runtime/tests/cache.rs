//! The compiled-plugin cache, and the load/instantiate costs it exists for
//! (printed; run with `--nocapture` to see them).

mod common;

use std::time::Instant;

use drhost_runtime::{LoadSource, PluginContext, Runtime, RuntimeConfig};

use common::plugin_wasm;

fn runtime_with_cache(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: dir.to_path_buf(),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_plugins_are_cached_in_memory_and_on_disk() {
    let wasm = plugin_wasm("object_store_fs.wasm");
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("cache");

    let first = runtime_with_cache(&dir);
    let compiled = first.load_stage("object-store-fs", &wasm).await.unwrap();
    assert_eq!(compiled.load_stats().source, LoadSource::Compiled);
    let again = first.load_stage("object-store-fs", &wasm).await.unwrap();
    assert_eq!(again.load_stats().source, LoadSource::Memory);

    // A new process (runtime) finds it on disk.
    let second = runtime_with_cache(&dir);
    let loaded = second.load_stage("object-store-fs", &wasm).await.unwrap();
    assert_eq!(loaded.load_stats().source, LoadSource::Disk);
    eprintln!(
        "object-store-fs ({} KiB): compile {:?}, disk cache load {:?}, memory {:?}",
        wasm.len() >> 10,
        compiled.load_stats().elapsed,
        loaded.load_stats().elapsed,
        again.load_stats().elapsed,
    );

    // A damaged cache file is replaced, not trusted. It is swapped in by
    // rename: the loaded runtimes still map the old file, and changing a
    // mapped file in place would crash them (SIGBUS), which is why the cache
    // itself only ever renames.
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let garbage = cache.path().join("garbage");
    std::fs::write(&garbage, b"garbage").unwrap();
    std::fs::rename(&garbage, &files[0]).unwrap();
    let third = runtime_with_cache(&dir);
    let recompiled = third.load_stage("object-store-fs", &wasm).await.unwrap();
    assert_eq!(recompiled.load_stats().source, LoadSource::Compiled);
    let fourth = runtime_with_cache(&dir);
    let reloaded = fourth.load_stage("object-store-fs", &wasm).await.unwrap();
    assert_eq!(reloaded.load_stats().source, LoadSource::Disk);
    assert!(reloaded.validate(&PluginContext::default()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_call_instantiation_is_cheap() {
    let wasm = plugin_wasm("store_fs.wasm");
    let runtime = common::runtime();
    let adapter = runtime.load_adapter("store-fs", &wasm).await.unwrap();
    let ctx = PluginContext::default();
    // Warm the pool slots and the fiber stacks.
    for _ in 0..20 {
        let _ = adapter.validate(&ctx).await;
    }
    let calls = 500;
    let started = Instant::now();
    for _ in 0..calls {
        // Fails (nothing granted) after instantiating and calling the export.
        assert!(adapter.validate(&ctx).await.is_err());
    }
    let per_call = started.elapsed() / calls;
    eprintln!("store-fs: fresh instance + validate call: {per_call:?} per call");
    // Generous bound: this is an unoptimised test build on a shared machine.
    assert!(per_call.as_millis() < 20, "{per_call:?}");
}
