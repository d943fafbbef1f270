//! User and group names for `posix-fs.stat` and the `names` owner policy.

use std::collections::HashMap;
use std::ffi::{CStr, CString};

/// User and group names by id and ids by name, looked up once per call:
/// glibc reads `/etc/passwd` afresh on every lookup.
#[derive(Default)]
pub(super) struct NameCache {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
    uids: HashMap<String, Option<u32>>,
    gids: HashMap<String, Option<u32>>,
}

impl NameCache {
    pub(super) fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| lookup_user(uid))
            .clone()
    }

    pub(super) fn group(&mut self, gid: u32) -> Option<String> {
        self.groups
            .entry(gid)
            .or_insert_with(|| lookup_group(gid))
            .clone()
    }

    pub(super) fn uid_of(&mut self, name: &str) -> Option<u32> {
        *self
            .uids
            .entry(name.to_owned())
            .or_insert_with(|| lookup_uid(name))
    }

    pub(super) fn gid_of(&mut self, name: &str) -> Option<u32> {
        *self
            .gids
            .entry(name.to_owned())
            .or_insert_with(|| lookup_gid(name))
    }
}

fn name_of(ptr: *const libc::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null name from getpw*/getgr* is NUL-terminated and lives
    // in the buffer passed to them, which outlives this call.
    let name = unsafe { CStr::from_ptr(ptr) };
    name.to_str().ok().map(str::to_owned)
}

fn lookup_user(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: all-zero is a valid `passwd`; getpwuid_r writes into it.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: pointers to live, correctly sized buffers.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    (rc == 0 && !result.is_null())
        .then(|| name_of(pwd.pw_name))
        .flatten()
}

fn lookup_group(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: as in `lookup_user`.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: pointers to live, correctly sized buffers.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
    (rc == 0 && !result.is_null())
        .then(|| name_of(grp.gr_name))
        .flatten()
}

fn lookup_uid(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: as in `lookup_user`.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: pointers to live, correctly sized buffers.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
}

fn lookup_gid(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: as in `lookup_user`.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: pointers to live, correctly sized buffers.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}
