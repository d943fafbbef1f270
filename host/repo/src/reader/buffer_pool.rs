//! Pack buffers a reader hands back to itself instead of to the allocator.
//!
//! A pack (up to 32 MiB) fetched into fresh memory costs a page fault per
//! 4 KiB page as the store adapter fills it: restoring a copy of `/usr/lib`,
//! a third of the store adapter's thread went to faults inside that copy. A
//! buffer whose pack is no longer needed is kept here for the next fetch,
//! its pages still mapped. The pool never holds more than the reader had in
//! use at once, and dies with the reader.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

#[derive(Debug)]
pub(super) struct BufferPool {
    idle: Mutex<Vec<Vec<u8>>>,
    /// Idle buffers kept, at most: more were never in use at once.
    keep: usize,
}

impl BufferPool {
    pub fn new(keep: usize) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// An empty buffer, with the capacity of an earlier pack if one is idle.
    pub fn take(&self) -> Vec<u8> {
        // Pushes and pops leave the list consistent, so a poisoned lock
        // (a panic elsewhere while it was held) cannot have broken it.
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.pop().unwrap_or_default()
    }

    /// `filled` as `Bytes` that give the buffer back to `pool` (if it is
    /// still there) when the last of them is dropped.
    pub fn share(pool: &Arc<Self>, filled: Vec<u8>) -> Bytes {
        Bytes::from_owner(Lent {
            buffer: filled,
            pool: Arc::downgrade(pool),
        })
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep && buffer.capacity() > 0 {
            idle.push(buffer);
        }
    }
}

/// A pooled buffer while `Bytes` refer to it.
struct Lent {
    buffer: Vec<u8>,
    pool: Weak<BufferPool>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(std::mem::take(&mut self.buffer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(pool: &BufferPool, len: usize) -> Vec<u8> {
        let mut buffer = pool.take();
        buffer.resize(len, 7);
        buffer
    }

    #[test]
    fn a_buffer_comes_back_when_its_last_bytes_are_dropped() {
        let pool = BufferPool::new(2);
        let buffer = filled(&pool, 1000);
        let at = buffer.as_ptr();
        let bytes = BufferPool::share(&pool, buffer);
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(pool.take().capacity(), 0, "a slice still holds it");
        assert_eq!(&slice[..], &[7; 10]);
        drop(slice);
        let again = pool.take();
        assert_eq!(again.as_ptr(), at);
        assert!(again.is_empty() && again.capacity() >= 1000);
    }

    #[test]
    fn the_pool_keeps_no_more_than_its_bound_and_dies_with_its_reader() {
        let pool = BufferPool::new(1);
        let shared: Vec<Bytes> = (0..3)
            .map(|_| BufferPool::share(&pool, filled(&pool, 100)))
            .collect();
        drop(shared);
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        let late = BufferPool::share(&pool, filled(&pool, 100));
        drop(pool);
        // Bytes outliving the pool free their buffer as any other.
        assert_eq!(late.len(), 100);
        drop(late);
    }
}
