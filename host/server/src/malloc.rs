//! Tuning of the C allocator the host runs on (glibc's malloc).
//!
//! Why: the data path allocates and frees large buffers all the time
//! (8 MiB chunker segments, 4 MiB chunks and blobs, 16–32 MiB packs), from
//! tokio workers and from many `spawn_blocking` threads. glibc gives each
//! thread that contends for an arena a new one, up to 8 per core, and after a
//! large mmapped block is freed it raises its mmap threshold (up to 32 MiB), so
//! from then on those buffers are carved out of the arenas. Every arena then
//! keeps its own high-water mark of freed-but-resident large blocks: measured
//! with a 2 GiB file, the host's peak RSS was 550–640 MiB, although the
//! pipeline holds ~150 MiB at most (`MALLOC_MMAP_THRESHOLD_=1048576`, which
//! mmaps every large buffer, gave 110–160 MiB — but 10–30% less throughput,
//! paying page faults for every buffer).
//!
//! Capping the arenas at two keeps glibc's fast reuse of freed large blocks
//! while bounding what the arenas can hold to about twice the pipeline's
//! working set, whatever the number of threads or the size of the data:
//! 185–217 MiB peak on the same data set, at equal throughput. One arena was
//! no better; mimalloc and jemalloc were tried too and either kept more
//! memory or, tuned to return it, were slower.

/// Arenas glibc may create (its default is 8 per core).
const ARENAS: i32 = 2;
/// Blocks this large are mmapped and returned to the system when freed: the
/// 16–32 MiB packs and segments, whose freed copies the arenas would otherwise
/// keep resident at the worst moment's high-water mark. Fixing the threshold
/// also stops glibc from raising it. Chunks (at most 4 MiB) stay below it and
/// keep the arenas' fast reuse.
const MMAP_THRESHOLD: i32 = 8 << 20;

/// Applies the tuning. Call first thing in `main`, before any thread exists.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; called before
        // any other thread runs. A refusal (returns 0) leaves the defaults.
        let applied = unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS) != 0
                && libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 0
        };
        if !applied {
            eprintln!("drhost: could not tune malloc; memory use may be higher");
        }
    }
}

/// Gives the pages of freed memory back to the system: after a large
/// transient structure (a backup's manifest, parsed while a restore opens
/// it) the arenas would otherwise keep them resident under everything the
/// job allocates next, raising its peak by their size.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system; it is
    // thread-safe and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
