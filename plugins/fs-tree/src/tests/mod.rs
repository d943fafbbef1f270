//! Native tests of backup and restore: in-memory archives and host, the
//! real filesystem through `guest_sdk::native::NativeFs`, in temporary
//! directories.

mod backup;
mod fakes;
mod restore;
mod round_trip;
mod tree;
