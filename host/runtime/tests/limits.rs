//! Hostile plugins: the call fails with the right reason, the host lives on.

mod common;

use std::time::{Duration, Instant};

use drhost_runtime::{PluginContext, PluginFailure, PluginLimits};
use tokio::sync::mpsc;

use common::{plugin_wasm, recorder, runtime};

fn limits(memory_bytes: u64, cpu_time: Duration, wall_time: Duration) -> PluginContext {
    PluginContext {
        limits: PluginLimits {
            memory_bytes,
            cpu_time,
            wall_time,
            max_archive_bytes: None,
        },
        ..PluginContext::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_plugin_is_stopped_at_its_cpu_limit() {
    let wasm = plugin_wasm("testing_spin_forever.wasm");
    let runtime = runtime();
    let plugin = runtime.load_stage("spin-forever", &wasm).await.unwrap();
    let ctx = limits(64 << 20, Duration::from_secs(1), Duration::from_secs(60));
    let (tx, _rx) = mpsc::channel(1);
    let started = Instant::now();
    let result = plugin.backup(&ctx, tx, None, recorder()).await;
    let elapsed = started.elapsed();
    eprintln!("spin-forever stopped after {elapsed:?}");
    match &result {
        Err(PluginFailure::CpuLimit { plugin, limit }) => {
            assert_eq!(plugin, "spin-forever");
            assert_eq!(*limit, Duration::from_secs(1));
        }
        other => panic!("expected CpuLimit, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(900), "took {elapsed:?}");

    // The runtime still works after the interrupted call.
    assert!(plugin.validate(&PluginContext::default()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_clock_limit_covers_a_spinning_plugin_too() {
    let wasm = plugin_wasm("testing_spin_forever.wasm");
    let plugin = runtime().load_stage("spin-forever", &wasm).await.unwrap();
    let ctx = limits(
        64 << 20,
        Duration::from_secs(60),
        Duration::from_millis(300),
    );
    let (tx, _rx) = mpsc::channel(1);
    let started = Instant::now();
    let result = plugin.backup(&ctx, tx, None, recorder()).await;
    assert!(
        matches!(result, Err(PluginFailure::WallTimeout { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocating_plugin_is_stopped_at_its_memory_limit() {
    let wasm = plugin_wasm("testing_alloc_bomb.wasm");
    let runtime = runtime();
    let plugin = runtime.load_stage("alloc-bomb", &wasm).await.unwrap();
    let ctx = limits(64 << 20, Duration::from_secs(30), Duration::from_secs(60));
    let (tx, _rx) = mpsc::channel(1);
    let result = plugin.backup(&ctx, tx, None, recorder()).await;
    match &result {
        Err(failure @ PluginFailure::MemoryLimit { plugin, limit }) => {
            assert_eq!(plugin, "alloc-bomb");
            assert_eq!(*limit, 64 << 20);
            assert!(failure.to_string().contains("64 MiB"), "{failure}");
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    // Again, with the next call on a fresh instance.
    let (tx, _rx) = mpsc::channel(1);
    let again = plugin.backup(&ctx, tx, None, recorder()).await;
    assert!(
        matches!(again, Err(PluginFailure::MemoryLimit { .. })),
        "{again:?}"
    );
    assert!(plugin.validate(&PluginContext::default()).await.is_ok());
}

#[tokio::test]
async fn a_plugin_error_is_reported_as_such() {
    let wasm = plugin_wasm("testing_spin_forever.wasm");
    let plugin = runtime().load_stage("spin-forever", &wasm).await.unwrap();
    let (_tx, rx) = mpsc::channel(1);
    let result = plugin
        .restore(&PluginContext::default(), rx, Vec::new(), recorder())
        .await;
    match result {
        Err(PluginFailure::Plugin { message, .. }) => assert_eq!(message, "not supported"),
        other => panic!("expected the plugin's error, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_and_core_modules_are_refused_at_load() {
    let runtime = runtime();
    let garbage = runtime.load_stage("garbage", b"not wasm at all").await;
    assert!(
        matches!(garbage, Err(PluginFailure::Compile { .. })),
        "{:?}",
        garbage.err()
    );
    // The smallest core module: magic + version 1.
    let core = runtime.load_stage("core", b"\0asm\x01\0\0\0").await;
    match core {
        Err(PluginFailure::Instantiate { message, .. }) => {
            assert!(message.contains("wasm32-wasip2"))
        }
        other => panic!("expected Instantiate, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn an_adapter_is_not_a_stage() {
    let wasm = plugin_wasm("store_fs.wasm");
    let result = runtime().load_stage("store-fs", &wasm).await;
    assert!(
        matches!(result, Err(PluginFailure::Instantiate { .. })),
        "{:?}",
        result.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_that_spins_fails_the_load_at_the_configured_cpu_limit() {
    let wasm = plugin_wasm("testing_spin_describe.wasm");
    let limits = PluginLimits {
        cpu_time: Duration::from_secs(1),
        wall_time: Duration::from_secs(60),
        ..PluginLimits::default()
    };
    let started = Instant::now();
    let result = runtime()
        .load_stage_limited("spin-describe", &wasm, limits)
        .await;
    let elapsed = started.elapsed();
    let failure = match result {
        Err(failure) => failure,
        Ok(_) => panic!("a describe that never returns was loaded"),
    };
    match &failure {
        PluginFailure::CpuLimit { plugin, limit } => {
            assert_eq!(plugin, "spin-describe");
            assert_eq!(*limit, Duration::from_secs(1));
        }
        other => panic!("expected CpuLimit, got {other:?}"),
    }
    let message = failure.to_string();
    assert!(
        message.contains("CPU") && message.contains("1 s"),
        "{message}"
    );
    // Well before the 10 s CPU limit of a load without configured limits;
    // compiling a cold cache takes part of it.
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_that_spins_fails_the_load_at_the_configured_wall_limit() {
    let wasm = plugin_wasm("testing_spin_describe.wasm");
    let limits = PluginLimits {
        cpu_time: Duration::from_secs(60),
        wall_time: Duration::from_millis(500),
        ..PluginLimits::default()
    };
    let runtime = runtime();
    // Compiled first, so the wall limit covers only describe.
    let _ = runtime
        .load_stage_limited(
            "spin-describe",
            &wasm,
            PluginLimits {
                cpu_time: Duration::from_millis(10),
                ..PluginLimits::default()
            },
        )
        .await;
    let result = runtime
        .load_stage_limited("spin-describe", &wasm, limits)
        .await;
    assert!(
        matches!(result, Err(PluginFailure::WallTimeout { .. })),
        "{:?}",
        result.err()
    );
}
