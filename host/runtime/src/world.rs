//! The two plugin worlds, and what to tell an operator whose component was
//! built for another one (or another version of the contract) than the slot
//! it was configured in: wasmtime's own error only names the first import or
//! resource it could not match.

use wasmtime::Engine;
use wasmtime::component::Component;

/// Version of the `drhost:plugin` WIT package this host implements.
pub const WIT_VERSION: &str = "0.2.1";

/// The world a plugin is loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum World {
    Stage,
    StoreAdapter,
}

impl World {
    const ALL: [World; 2] = [World::Stage, World::StoreAdapter];

    fn name(self) -> String {
        match self {
            World::Stage => format!("drhost:plugin/stage-plugin@{WIT_VERSION}"),
            World::StoreAdapter => format!("drhost:plugin/store-adapter-plugin@{WIT_VERSION}"),
        }
    }

    /// The interface a component of this world exports, without version.
    fn export(self) -> &'static str {
        match self {
            World::Stage => "drhost:plugin/stage",
            World::StoreAdapter => "drhost:plugin/store-adapter",
        }
    }

    fn what(self) -> &'static str {
        match self {
            World::Stage => "a stage plugin",
            World::StoreAdapter => "a store adapter",
        }
    }
}

/// Why `component` cannot be `expected`, if its exports show it: another
/// world, or another version of the package. `None` when it exports what
/// `expected` needs (the failure is elsewhere, e.g. an import).
pub(crate) fn mismatch(engine: &Engine, component: &Component, expected: World) -> Option<String> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let wanted = format!("{}@{WIT_VERSION}", expected.export());
    if exports.iter().any(|e| {
        e.split_once('@').is_some_and(|(name, version)| {
            name == expected.export() && links_with_this_host(version)
        })
    }) {
        return None;
    }
    let exported = |world: World| {
        exports
            .iter()
            .find(|e| e.split('@').next() == Some(world.export()))
            .copied()
    };
    if let Some(other) = World::ALL
        .into_iter()
        .find(|&w| w != expected && exported(w).is_some())
    {
        return Some(format!(
            "this component is {} (world {}), but it is configured as {}, which must target world {}",
            other.what(),
            other.name(),
            expected.what(),
            expected.name()
        ));
    }
    if let Some(found) = exported(expected) {
        return Some(format!(
            "this component exports {found}, but this host implements {wanted} (world {}); rebuild it against this host's wit/",
            expected.name()
        ));
    }
    Some(format!(
        "this component exports no {wanted}: it is not {} (world {})",
        expected.what(),
        expected.name()
    ))
}

/// Whether a component built against package `version` links with this
/// host: the same 0.x minor version at an earlier or equal patch, as
/// wasmtime's linker matches `@0.2.x` names.
fn links_with_this_host(version: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32, u32)> {
        let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
        let triple = (parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(triple)
    };
    match (parse(version), parse(WIT_VERSION)) {
        (Some((0, minor, patch)), Some((0, our_minor, our_patch))) => {
            minor == our_minor && patch <= our_patch
        }
        _ => version == WIT_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::{WIT_VERSION, links_with_this_host};

    #[test]
    fn earlier_patches_of_the_contract_link() {
        assert!(links_with_this_host("0.2.0"));
        assert!(links_with_this_host(WIT_VERSION));
        assert!(
            !links_with_this_host("0.2.99"),
            "a later patch may import more"
        );
        assert!(!links_with_this_host("0.1.0"));
        assert!(!links_with_this_host("0.3.0"));
        assert!(!links_with_this_host("0.2.0-rc1"));
    }

    #[test]
    fn the_version_is_the_one_wit_declares() {
        for wit in [
            include_str!("../../../wit/types.wit"),
            include_str!("../../../wit/stage.wit"),
            include_str!("../../../wit/store-adapter.wit"),
        ] {
            assert!(wit.starts_with(&format!("package drhost:plugin@{WIT_VERSION};")));
        }
    }
}
