//! The one place the engine takes its synchronisation primitives from.
//!
//! Under `cfg(loom)` these are loom's model-checked types, so `cargo test --cfg loom` explores
//! every interleaving of the lock-free table's atomics; otherwise they are the std ones. No
//! other module imports atomics from `std` directly (the eviction hint [`crate::AccessClock`]
//! is the one documented exception). loom's `AtomicPtr` has no `fetch_or`/`fetch_and`, so the
//! table sets tag bits with compare-and-swap loops, which is what it needs anyway.

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::Arc;

#[cfg(not(loom))]
pub use std::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub use std::sync::Arc;

/// Yield inside spin loops: under loom this lets the model schedule the thread we wait for.
#[inline]
pub fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
