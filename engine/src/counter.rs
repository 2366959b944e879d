//! A striped counter: many threads add to it, few read the total.
//!
//! The lock-free table counts its live keys for [`crate::Engine::len`] and for its shrink
//! decision. One shared `AtomicUsize` would make every insert and remove of every thread write
//! the same cache line, which is exactly the contention the table exists to avoid; instead
//! each thread adds to its own cache-padded stripe and `sum` adds the stripes up. The sum is
//! exact when no update is in flight and otherwise off by at most the number of in-flight
//! updates, which is all `len` promises.

use crate::sync::{AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;

/// Stripes per counter. Sixteen cache lines (1 KiB) per map is cheap and gives each of up to
/// sixteen concurrent threads a line of its own; more threads share lines, which is still
/// correct, just slower.
pub const STRIPES: usize = 16;

/// A counter split into [`STRIPES`] cache-padded stripes.
///
/// Stripes hold wrapping `usize`s; a stripe may go "negative" (wrap) when one thread removes
/// what another inserted, and the wrapping sum is still right.
#[derive(Debug)]
pub struct StripedCounter {
    stripes: Box<[CachePadded<AtomicUsize>]>,
}

impl Default for StripedCounter {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
        }
    }
}

impl StripedCounter {
    /// Adds `delta` (wrapping; pass `usize::MAX` for minus one via [`StripedCounter::sub`]).
    #[inline]
    pub fn add(&self, delta: usize) {
        // Relaxed: the counter publishes no memory; readers only want a number.
        self.stripes[stripe_index()].fetch_add(delta, Ordering::Relaxed);
    }

    /// Subtracts `delta`.
    #[inline]
    pub fn sub(&self, delta: usize) {
        // Relaxed: as in `add`.
        self.stripes[stripe_index()].fetch_sub(delta, Ordering::Relaxed);
    }

    /// The total. Exact only when no update is in flight.
    pub fn sum(&self) -> usize {
        // Relaxed: as in `add`. Transiently "negative" totals are clamped to zero.
        let total = self.stripes.iter().fold(0usize, |total, stripe| {
            total.wrapping_add(stripe.load(Ordering::Relaxed))
        });
        if total > isize::MAX as usize {
            0
        } else {
            total
        }
    }

    /// Sets the total to zero. Only meaningful when no update is in flight.
    pub fn reset(&self) {
        for stripe in self.stripes.iter() {
            // Relaxed: as in `add`.
            stripe.store(0, Ordering::Relaxed);
        }
    }
}

/// This thread's stripe: assigned round-robin the first time a thread counts anything.
#[cfg(not(loom))]
#[inline]
fn stripe_index() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    static NEXT: StdAtomicUsize = StdAtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| {
        let mut value = index.get();
        if value == usize::MAX {
            // Relaxed: only uniqueness-ish matters, and any value is correct.
            value = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
            index.set(value);
        }
        value
    })
}

/// Under loom every thread uses stripe 0: the model then checks the counter's atomicity with
/// the smallest state space, and a std static would leak state between loom iterations.
#[cfg(loom)]
#[inline]
fn stripe_index() -> usize {
    0
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn sums_across_threads_and_wraps() {
        let counter = std::sync::Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(2);
                    }
                    if i % 2 == 0 {
                        for _ in 0..500 {
                            counter.sub(1);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.sum(), 4 * 2000 - 2 * 500);
        // A stripe that only ever subtracts wraps, and the total is still right.
        counter.reset();
        counter.add(3);
        let other = std::thread::spawn({
            let counter = counter.clone();
            move || counter.sub(2)
        });
        other.join().unwrap();
        assert_eq!(counter.sum(), 1);
    }
}
