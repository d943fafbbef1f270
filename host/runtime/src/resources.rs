//! The part of a call's data that the resource-based interfaces (`archive`,
//! `archive-reuse`, `streams`) work on: the resource table, and the notes in
//! which they record how a plugin misused them or what failed on the host.

use wasmtime::component::{HasData, ResourceTable};

use crate::notes::CallNotes;

pub(crate) struct ResourceHost<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) notes: &'a mut CallNotes,
}

/// Links an interface to a [`ResourceHost`] view of the call's data.
pub(crate) struct ResourceData;

impl HasData for ResourceData {
    type Data<'a> = ResourceHost<'a>;
}
