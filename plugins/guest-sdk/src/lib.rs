//! The guest side of drhost's plugin contract (`drhost:plugin@0.2.1`), for
//! the authors of stage plugins and store adapters.
//!
//! [`bindings`] holds the bindings of every interface a plugin *imports*
//! (`types`, `host`, `report`, `archive`, `archive-reuse`, `posix-fs`,
//! `content`, `streams`), generated once, so that plugins share one `PluginError`, one
//! `EntryMeta`, one `ArchiveWriter`... A plugin still generates the bindings
//! of its own world (its exports), pointing the imports here with
//! wit-bindgen's `with` option; [`stage_bindings!`] and
//! [`store_adapter_bindings!`] do exactly that.
//!
//! Around the bindings:
//! - [`ports`]: the host as traits ([`EntrySink`], [`EntrySource`], [`Host`])
//!   with the real implementations, so plugin logic is tested natively with
//!   in-memory fakes;
//! - [`posix`]: the host's `posix-fs` as a trait ([`PosixFs`]: stat, read,
//!   create, link, rename, set metadata by byte paths), implemented by
//!   [`GuestFs`] over the bindings and, natively, by [`native::NativeFs`]
//!   over std and libc, so filesystem logic is tested on real directories;
//! - [`Progress`]: throttled progress reporting;
//! - [`s3`] (feature `s3`): `s3-client` errors to and from `plugin-error`.
//!
//! Bindings-free helpers (configuration, paths, times) are in `plugin-util`,
//! re-exported as [`plugin_util`].
//!
//! A plugin outside the drhost repository depends on this crate by git
//! (`guest-sdk = { git = "<drhost repository URL>", tag = "<release>",
//! features = ["stage"] }`) and takes its world's bindings from
//! `stage_world` or `store_adapter_world` (features `stage`,
//! `store-adapter`), needing no WIT files; `docs/plugin-kit.md` in the
//! repository is the guide, `plugins/templates/` the starting points. The
//! `*_bindings!` macros take a WIT directory path, which in this repository is
//! `../../wit`.

// The world macros below name this crate `::guest_sdk`, as a plugin sees
// it; this lets the crate expand them itself (`stage_world`, ...).
extern crate self as guest_sdk;

pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "
            package drhost:guest-sdk;

            world imports {
                import drhost:plugin/types@0.2.1;
                import drhost:plugin/host@0.2.1;
                import drhost:plugin/report@0.2.1;
                import drhost:plugin/archive@0.2.1;
                import drhost:plugin/archive-reuse@0.2.1;
                import drhost:plugin/posix-fs@0.2.1;
                import drhost:plugin/content@0.2.1;
                import drhost:plugin/streams@0.2.1;
            }
        ",
        world: "drhost:guest-sdk/imports",
        generate_all,
    });
}

/// The `stage-plugin` world (feature `stage`): its exports generated here,
/// so a stage needs neither the WIT files nor wit-bindgen. Implement
/// `stage_world::exports::drhost::plugin::stage::Guest` and export it with
/// `guest_sdk::stage_world::export!(MyStage);` (on `wasm32` only, see the
/// crate's README).
///
/// One world per build: each world's bindings embed its description in the
/// component, and a component built with both would have to export both.
#[cfg(feature = "stage")]
pub mod stage_world {
    crate::stage_bindings!(
        "../../wit",
        pub_export_macro: true,
        default_bindings_module: "::guest_sdk::stage_world",
    );
}

/// The `store-adapter-plugin` world (feature `store-adapter`), as
/// [`stage_world`]: implement
/// `store_adapter_world::exports::drhost::plugin::store_adapter::Guest`, export
/// with `guest_sdk::store_adapter_world::export!(MyAdapter);`.
#[cfg(feature = "store-adapter")]
pub mod store_adapter_world {
    crate::store_adapter_bindings!(
        "../../wit",
        pub_export_macro: true,
        default_bindings_module: "::guest_sdk::store_adapter_world",
    );
}

#[cfg(all(feature = "stage", feature = "store-adapter"))]
compile_error!(
    "guest-sdk: enable one of the features `stage` and `store-adapter`: a component implements one world"
);

pub mod content;
#[cfg(not(target_os = "wasi"))]
pub mod native;
pub mod ports;
pub mod posix;
mod progress;
#[cfg(feature = "s3")]
pub mod s3;

pub use bindings::drhost::plugin::archive::{
    ArchiveReader, ArchiveWriter, EntryKind, EntryMeta, Owner,
};
pub use bindings::drhost::plugin::content::ContentDigest;
pub use bindings::drhost::plugin::host::LogLevel;
pub use bindings::drhost::plugin::posix_fs::{
    Applied, FileStat, FileType, MetadataUpdate, Timestamp,
};
pub use bindings::drhost::plugin::streams::{ByteSink, ByteSource};
pub use bindings::drhost::plugin::types::{Attribute, PluginError};
/// Configuration, path and name helpers that need no bindings, so a plugin
/// outside this repository has one dependency to declare.
pub use plugin_util;
pub use ports::{EntrySink, EntrySource, GuestHost, Host, HostSink, HostSource};
pub use posix::{GuestFs, PosixFile, PosixFs};
pub use progress::Progress;
/// Bindings of the WASI 0.2 interfaces (the `wasi` crate, at WASI 0.2.4,
/// compatible with the 0.2.12 of `wit/deps/`): the worlds include them, and
/// [`stage_bindings!`] maps them here rather than generating them again.
pub use wasi;
/// The bindings generator, for [`stage_bindings!`] and
/// [`store_adapter_bindings!`].
pub use wit_bindgen;

/// Generates the bindings of the `stage-plugin` world, its imports mapped
/// onto [`bindings`]: `stage_bindings!("../../wit")`, the path of the WIT
/// directory relative to the plugin's `Cargo.toml`. Further
/// `wit_bindgen::generate!` options may follow the path, e.g.
/// `stage_bindings!("../../wit", pub_export_macro: true,)`.
#[macro_export]
macro_rules! stage_bindings {
    ($path:literal $(, $($option:tt)*)?) => {
        $crate::__world_bindings!($path, "drhost:plugin/stage-plugin", {
            "drhost:plugin/report@0.2.1": report,
            "drhost:plugin/archive@0.2.1": archive,
            "drhost:plugin/archive-reuse@0.2.1": archive_reuse,
            "drhost:plugin/posix-fs@0.2.1": posix_fs,
            "drhost:plugin/content@0.2.1": content,
        } $(, $($option)*)?);
    };
}

/// Generates the bindings of the `store-adapter-plugin` world, its imports
/// mapped onto [`bindings`]; used like [`stage_bindings!`].
#[macro_export]
macro_rules! store_adapter_bindings {
    ($path:literal $(, $($option:tt)*)?) => {
        $crate::__world_bindings!($path, "drhost:plugin/store-adapter-plugin", {
            "drhost:plugin/streams@0.2.1": streams,
        } $(, $($option)*)?);
    };
}

/// `wit_bindgen::generate!` for `world`, with `types`, `host` and the named
/// further imports taken from [`bindings`] (wit-bindgen refuses a `with`
/// entry the world does not use, hence one list per world), and every WASI
/// interface the worlds include (`wasi:cli/imports`,
/// `wasi:http/outgoing-handler`) taken from the [`wasi`] crate: wit-bindgen
/// wants each imported interface either mapped or generated, and generating
/// them would give every plugin its own copy of the WASI types.
#[doc(hidden)]
#[macro_export]
macro_rules! __world_bindings {
    ($path:literal, $world:literal, { $($import:literal: $module:ident,)* } $(, $($option:tt)*)?) => {
        $crate::wit_bindgen::generate!({
            path: $path,
            world: $world,
            with: {
                "drhost:plugin/types@0.2.1": ::guest_sdk::bindings::drhost::plugin::types,
                "drhost:plugin/host@0.2.1": ::guest_sdk::bindings::drhost::plugin::host,
                $($import: ::guest_sdk::bindings::drhost::plugin::$module,)*
                "wasi:cli/environment@0.2.12": ::guest_sdk::wasi::cli::environment,
                "wasi:cli/exit@0.2.12": ::guest_sdk::wasi::cli::exit,
                "wasi:cli/stdin@0.2.12": ::guest_sdk::wasi::cli::stdin,
                "wasi:cli/stdout@0.2.12": ::guest_sdk::wasi::cli::stdout,
                "wasi:cli/stderr@0.2.12": ::guest_sdk::wasi::cli::stderr,
                "wasi:cli/terminal-input@0.2.12": ::guest_sdk::wasi::cli::terminal_input,
                "wasi:cli/terminal-output@0.2.12": ::guest_sdk::wasi::cli::terminal_output,
                "wasi:cli/terminal-stdin@0.2.12": ::guest_sdk::wasi::cli::terminal_stdin,
                "wasi:cli/terminal-stdout@0.2.12": ::guest_sdk::wasi::cli::terminal_stdout,
                "wasi:cli/terminal-stderr@0.2.12": ::guest_sdk::wasi::cli::terminal_stderr,
                "wasi:clocks/monotonic-clock@0.2.12": ::guest_sdk::wasi::clocks::monotonic_clock,
                "wasi:clocks/wall-clock@0.2.12": ::guest_sdk::wasi::clocks::wall_clock,
                "wasi:filesystem/types@0.2.12": ::guest_sdk::wasi::filesystem::types,
                "wasi:filesystem/preopens@0.2.12": ::guest_sdk::wasi::filesystem::preopens,
                "wasi:io/error@0.2.12": ::guest_sdk::wasi::io::error,
                "wasi:io/poll@0.2.12": ::guest_sdk::wasi::io::poll,
                "wasi:io/streams@0.2.12": ::guest_sdk::wasi::io::streams,
                "wasi:random/random@0.2.12": ::guest_sdk::wasi::random::random,
                "wasi:random/insecure@0.2.12": ::guest_sdk::wasi::random::insecure,
                "wasi:random/insecure-seed@0.2.12": ::guest_sdk::wasi::random::insecure_seed,
                "wasi:sockets/network@0.2.12": ::guest_sdk::wasi::sockets::network,
                "wasi:sockets/instance-network@0.2.12": ::guest_sdk::wasi::sockets::instance_network,
                "wasi:sockets/udp@0.2.12": ::guest_sdk::wasi::sockets::udp,
                "wasi:sockets/udp-create-socket@0.2.12": ::guest_sdk::wasi::sockets::udp_create_socket,
                "wasi:sockets/tcp@0.2.12": ::guest_sdk::wasi::sockets::tcp,
                "wasi:sockets/tcp-create-socket@0.2.12": ::guest_sdk::wasi::sockets::tcp_create_socket,
                "wasi:sockets/ip-name-lookup@0.2.12": ::guest_sdk::wasi::sockets::ip_name_lookup,
                "wasi:http/types@0.2.12": ::guest_sdk::wasi::http::types,
                "wasi:http/outgoing-handler@0.2.12": ::guest_sdk::wasi::http::outgoing_handler,
            },
            $($($option)*)?
        });
    };
}
