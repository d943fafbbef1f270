//! What it costs to start a plugin: loading a compiled component from the
//! on-disk cache in a fresh runtime (a host restart), and a warm call (a new
//! store and WASI context, instantiation through `InstancePre` from the
//! pooling allocator, and one trivial export call: `validate` of
//! `object-store-fs`, which only checks its granted directory).
//!
//! ```sh
//! cargo bench -p drhost-runtime --bench instantiate
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use drhost_runtime::{DirGrant, Grants, LoadSource, PluginContext, Runtime, RuntimeConfig};

const WARM_CALLS: usize = 5000;
const COLD_LOADS: usize = 7;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let wasm = common::plugin_wasm("object_store_fs.wasm");
    let cache = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let runtime_at = || {
        Runtime::new(RuntimeConfig {
            cache_dir: cache.path().to_path_buf(),
            ..RuntimeConfig::default()
        })
        .expect("runtime")
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let compiled = runtime_at()
            .load_stage("object-store-fs", &wasm)
            .await
            .expect("compile");
        println!(
            "compile with Cranelift: {:?} ({} KiB component)",
            compiled.load_stats().elapsed,
            wasm.len() >> 10
        );

        let mut cold = Vec::new();
        for _ in 0..COLD_LOADS {
            let plugin = runtime_at()
                .load_stage("object-store-fs", &wasm)
                .await
                .expect("load");
            assert_eq!(plugin.load_stats().source, LoadSource::Disk);
            cold.push(plugin.load_stats().elapsed);
        }
        cold.sort();
        println!(
            "cold load from the disk cache (new runtime): median {:?}",
            percentile(&cold, 0.5)
        );

        let runtime = runtime_at();
        let plugin = runtime
            .load_stage("object-store-fs", &wasm)
            .await
            .expect("load");
        let ctx = PluginContext {
            config_json: r#"{"root": "/data"}"#.into(),
            grants: Grants {
                dirs: vec![DirGrant {
                    host: data.path().to_path_buf(),
                    guest: "/data".into(),
                    writable: false,
                }],
                tcp_connect: Vec::new(),
                http_connect: Vec::new(),
                fs_policy: Default::default(),
                http_addresses: None,
            },
            ..PluginContext::default()
        };
        for _ in 0..100 {
            plugin.validate(&ctx).await.expect("validate");
        }
        let mut warm = Vec::with_capacity(WARM_CALLS);
        let started = Instant::now();
        for _ in 0..WARM_CALLS {
            let t = Instant::now();
            plugin.validate(&ctx).await.expect("validate");
            warm.push(t.elapsed());
        }
        let total = started.elapsed();
        warm.sort();
        println!(
            "warm instantiate + validate call: mean {:?}, p50 {:?}, p99 {:?} ({} calls)",
            total / WARM_CALLS as u32,
            percentile(&warm, 0.5),
            percentile(&warm, 0.99),
            WARM_CALLS
        );
    });
}
