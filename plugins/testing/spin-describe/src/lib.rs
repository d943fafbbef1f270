//! Hostile stage for the host's tests: `describe`, which the host calls when
//! it loads the plugin, spins forever on pure computation, so only the
//! stage's configured limits can end the load.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "stage-plugin",
        // The WASI interfaces the world includes are generated here too;
        // the component imports only those the plugin uses.
        generate_all,
    });
}

use std::hint::black_box;

use bindings::drhost::plugin::archive::{ArchiveReader, ArchiveWriter};
use bindings::drhost::plugin::types::{Attribute, PluginError};
use bindings::exports::drhost::plugin::stage::{Guest, StageInfo, StageSummary};

struct SpinDescribe;

impl Guest for SpinDescribe {
    fn describe() -> StageInfo {
        spin()
    }

    fn validate(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn backup(_out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
        Err(PluginError::Other("not supported".into()))
    }

    fn restore(
        _input: &ArchiveReader,
        _metadata: Vec<Attribute>,
    ) -> Result<StageSummary, PluginError> {
        Err(PluginError::Other("not supported".into()))
    }
}

/// `black_box` hides the counter from the optimizer, so the loop body stays
/// real work instead of collapsing into an empty (or removed) loop.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

bindings::export!(SpinDescribe with_types_in bindings);
