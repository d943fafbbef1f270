//! Hostile stage for the host's tests: `backup` allocates memory without
//! bound, so only the host's memory limit can end it (as a trap).

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
use bindings::exports::drhost::plugin::stage::{Guest, StageInfo, StageKind, StageSummary};

const BLOCK: usize = 1 << 20;
/// Host page size: writing one byte per page makes the host commit them all.
const PAGE: usize = 4096;

struct AllocBomb;

impl Guest for AllocBomb {
    fn describe() -> StageInfo {
        StageInfo {
            name: "testing-alloc-bomb".into(),
            kind: StageKind::Other,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn validate(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn backup(_out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
        hoard()
    }

    fn restore(
        _input: &ArchiveReader,
        _metadata: Vec<Attribute>,
    ) -> Result<StageSummary, PluginError> {
        Err(PluginError::Other("not supported".into()))
    }
}

/// Keeps every block alive in `hoard`; `black_box` stops the optimizer from
/// proving the memory unused and dropping the allocations.
fn hoard() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    let mut round: u8 = 0;
    loop {
        round = round.wrapping_add(1);
        let mut block = vec![0u8; BLOCK];
        for byte in block.iter_mut().step_by(PAGE) {
            *byte = round | 1;
        }
        hoard.push(black_box(block));
        black_box(&hoard);
    }
}

bindings::export!(AllocBomb with_types_in bindings);
