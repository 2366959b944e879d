//! The one place the engine takes its synchronisation primitives from.
//!
//! Under `cfg(loom)` these are loom's model-checked types, so `cargo test --cfg loom` explores
//! the interleavings of the lock-free table's atomics (and the values weak orderings allow each
//! load to return) up to a preemption bound; otherwise they are the std ones. The bound matters:
//! the models in `engine/tests/loom.rs` run with 1 or 2 preemptions per execution (each states
//! its own and why), so they prove the absence of bugs that need at most that many forced
//! context switches, not of every bug. No
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
