//! Where the table's nodes come from.
//!
//! The table allocates a node on every write (inserts, updates and, unless the removed node
//! serves as its own tombstone, removals) and frees the replaced one a grace period later,
//! often on another thread (whichever thread's crossbeam-epoch collection runs the deferred
//! free). So the allocator's fast path is part of
//! every write's cost, and it is the one part of a write that a map storing entries inline
//! (scc, dashmap, hashbrown) does not pay.
//!
//! glibc's `malloc` is slow on that path: a thread that allocates more nodes than it frees
//! finds its per-thread cache (tcache) empty and takes the arena path (`_int_malloc`) every
//! time. Callgrind on bustle's RapidGrow mix (80% inserts of new keys, 2 threads, 2^20
//! operations) counted 191 instructions per node allocation in glibc, 42% of an insert's 451;
//! with mimalloc's `mi_malloc`, 35 per allocation (its occasional slow path included) and 267
//! per insert. mimalloc's fast path pops a per-thread free list of the size class, and frees
//! from other threads go to a per-page list without a lock. The server has linked mimalloc as
//! its global allocator for the same reason (`src/main.rs`), so there this choice changes
//! nothing; it makes the table's write path the same wherever the engine is used, the
//! benchmarks included, whatever the process's global allocator is.
//!
//! The allocator is a type parameter of [`LockFree`](super::LockFree) so that tests and
//! benchmarks that count bytes through a counting global allocator can ask for
//! [`GlobalAllocator`] and see every node. Under loom, Miri and cargo-fuzz the default is
//! [`GlobalAllocator`] as well: Miri cannot run mimalloc's C code, and under the fuzzers'
//! AddressSanitizer only allocations through the instrumented global allocator are checked for
//! use after free.

use std::alloc::Layout;

/// An allocator for the table's nodes, named by type: nodes are freed in deferred functions
/// that carry nothing but the node's pointer, so the allocator has no state.
///
/// # Safety
///
/// An implementation must keep the contract of [`std::alloc::GlobalAlloc`]: `allocate`
/// returns null or a block of at least `layout.size()` bytes aligned to `layout.align()`,
/// which stays valid and is not handed out again until it is passed to `deallocate`; a block
/// may be freed on any thread, not only the one that allocated it.
pub unsafe trait NodeAllocator: 'static {
    /// Allocates a block for `layout`; null on failure.
    ///
    /// # Safety
    ///
    /// `layout` has a non-zero size.
    unsafe fn allocate(layout: Layout) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `pointer` came from [`NodeAllocator::allocate`] of the same allocator with the same
    /// `layout`, and has not been freed.
    unsafe fn deallocate(pointer: *mut u8, layout: Layout);
}

/// Nodes from the process's global allocator (`std::alloc::alloc`), whatever it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalAllocator;

// SAFETY: forwards to the global allocator, which keeps `GlobalAlloc`'s contract.
unsafe impl NodeAllocator for GlobalAllocator {
    #[inline]
    unsafe fn allocate(layout: Layout) -> *mut u8 {
        // SAFETY: the caller passes a non-zero-size layout.
        unsafe { std::alloc::alloc(layout) }
    }

    #[inline]
    unsafe fn deallocate(pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block `allocate` returned, with its layout.
        unsafe { std::alloc::dealloc(pointer, layout) }
    }
}

/// Nodes from mimalloc, called directly (not through the global allocator). See the module
/// docs for why this is the default.
#[cfg(not(loom))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Mimalloc;

/// The alignment `malloc` guarantees on our 64-bit targets for a block of at least this many
/// bytes (`alignof(max_align_t)`; std's `System` allocator relies on the same figure).
#[cfg(not(loom))]
const MALLOC_ALIGN: usize = 16;

// SAFETY: `mi_malloc` is the function mimalloc exports as `malloc` when it replaces the C
// allocator (`alloc-override.c`: `malloc` forwards to `mi_malloc`), so it keeps malloc's
// alignment guarantee, and we call it only for layouts that guarantee covers (the same test
// std's `System` makes before calling `malloc`); other layouts go to `mi_malloc_aligned`.
// `mi_free` frees blocks of both, from any thread.
#[cfg(not(loom))]
unsafe impl NodeAllocator for Mimalloc {
    #[inline]
    unsafe fn allocate(layout: Layout) -> *mut u8 {
        // `mi_malloc` rather than the `mimalloc` crate's `GlobalAlloc`, which always calls
        // `mi_malloc_aligned`: callgrind counted 49 instructions per node through that path
        // against 35 through `mi_malloc`, on every write.
        let pointer = if layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size() {
            // SAFETY: any size is valid; the caller's is non-zero.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()) }
        } else {
            // SAFETY: a `Layout`'s alignment is a power of two, as mimalloc requires.
            unsafe { libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()) }
        };
        pointer.cast()
    }

    #[inline]
    unsafe fn deallocate(pointer: *mut u8, _layout: Layout) {
        // SAFETY: the caller passes a block `allocate` returned and not yet freed.
        unsafe { libmimalloc_sys::mi_free(pointer.cast()) }
    }
}

/// The node allocator a [`LockFree`](super::LockFree) uses unless told otherwise: mimalloc,
/// except under loom, Miri and cargo-fuzz (see the module docs).
#[cfg(not(any(loom, miri, fuzzing)))]
pub type DefaultNodeAllocator = Mimalloc;

/// The node allocator a [`LockFree`](super::LockFree) uses unless told otherwise: the global
/// allocator under loom, Miri and cargo-fuzz (see the module docs).
#[cfg(any(loom, miri, fuzzing))]
pub type DefaultNodeAllocator = GlobalAllocator;
