//! The two plugin worlds, and what to tell an operator whose component was
//! built for another one (or another version of the contract) than the slot
//! it was configured in: wasmtime's own error only names the first import or
//! resource it could not match.

use wasmtime::Engine;
use wasmtime::component::Component;

/// Version of the `drhost:plugin` WIT package this host implements.
pub const WIT_VERSION: &str = "0.2.0";

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
    if exports.contains(&wanted.as_str()) {
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

#[cfg(test)]
mod tests {
    use super::WIT_VERSION;

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
