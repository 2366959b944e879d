//! A striped counter: many threads add to it, few read the total.
//!
//! The lock-free table counts its live keys for [`crate::Engine::len`] and for its shrink
//! decision. One shared `AtomicUsize` would make every insert and remove of every thread write
//! the same cache line, which is exactly the contention the table exists to avoid; instead
//! each thread counts in its own cache-padded stripe and `sum` adds the stripes up.
//!
//! ## What a sum promises
//!
//! A sum of stripes read one after another is not a snapshot: each stripe is read at a
//! different moment. With one wrapping number per stripe, read in one pass, that made the
//! total unbounded below: a reader that loads an inserting thread's stripe early and a
//! removing thread's stripe late counts every removal in between without the inserts they
//! removed, and an insert counted only after it was published lets a racing removal be
//! counted first. Issue 16 saw `len()` read 0 with a key present. So the counter is built to
//! give one guarantee that holds however the reader is scheduled:
//!
//! **`sum` never under-reads**: it is at least the number of things added before the call
//! began and not removed before it ended, provided the callers keep the protocol:
//!
//! 1. [`StripedCounter::add`] *before* publishing what it counts (the lock-free table adds
//!    before the compare-and-swap that makes a key present, and takes it back if the
//!    compare-and-swap fails), and
//! 2. [`StripedCounter::sub`] only *after* the thing counted has been unpublished, by a thread
//!    that saw its publication (a removal's compare-and-swap reads the insert's).
//!
//! How: each stripe keeps two numbers that only grow, `added` and `removed`, and `sum` reads
//! every `removed` first (Acquire), then every `added`. A removal the reader counts was
//! released after its matching addition happened (the protocol), so that addition
//! happens-before the reader's later load of the `added` stripe and is counted too (see
//! [`StripedCounter::sum`]). Every subtraction the reader sees is therefore matched by an
//! addition it sees, and what is left is at least everything added and still present.
//!
//! What a sum does *not* promise is an upper bound tighter than the activity during the call:
//! additions made while the reader ran (a reader descheduled between its two passes counts
//! every key added meanwhile, even ones removed again) and additions whose publication is
//! still in flight are counted. When no update is in flight the sum is exact. Callers that do
//! not keep the protocol (the keyspace's count of keys with an expiry, the server's
//! statistics) get what they got before: exact when quiet, approximate otherwise.

use crate::sync::{AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;

/// Stripes per counter. Sixteen cache lines (1 KiB) per map is cheap and gives each of up to
/// sixteen concurrent threads a line of its own; more threads share lines, which is still
/// correct, just slower.
#[cfg(not(any(loom, fuzzing)))]
pub const STRIPES: usize = 16;
/// Under loom, two stripes: thread `i` of a model uses stripe `i % 2`, so a model's main thread
/// and its first spawned thread count in different stripes, which is the case the two-pass
/// sum exists for, while every sum costs the model only four loads.
///
/// Under cargo fuzz (`cfg(fuzzing)`), two as well: a fuzz target runs on one thread, so more
/// stripes buy nothing there, and the server-level targets build 70 counters per input (two
/// servers' statistics and keyspaces), whose 2 KiB allocations, filled and poisoned by
/// AddressSanitizer, were a fifth of `memcache_binary`'s time (a tenth with two stripes).
/// The code is the same for any count.
#[cfg(any(loom, fuzzing))]
pub const STRIPES: usize = 2;

/// One thread's share of the count. Both numbers only grow (wrapping after 2^64 updates,
/// which no process lives to see); the total is `added - removed` summed over the stripes.
#[derive(Debug)]
struct Stripe {
    added: AtomicUsize,
    removed: AtomicUsize,
}

/// A counter split into [`STRIPES`] cache-padded stripes. See the module docs for what
/// [`StripedCounter::sum`] promises.
#[derive(Debug)]
pub struct StripedCounter {
    stripes: Box<[CachePadded<Stripe>]>,
}

impl Default for StripedCounter {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES)
                .map(|_| {
                    CachePadded::new(Stripe {
                        added: AtomicUsize::new(0),
                        removed: AtomicUsize::new(0),
                    })
                })
                .collect(),
        }
    }
}

impl StripedCounter {
    /// Adds `delta`. Call it before publishing what it counts (see the module docs).
    #[inline]
    pub fn add(&self, delta: usize) {
        // Relaxed: a reader that must see this addition (because it sees the matching
        // subtraction) is ordered after it through the caller's publication, which is
        // sequenced after this add and released (the table's compare-and-swap), and through
        // the Release of that subtraction; see `sum`.
        self.stripes[stripe_index()]
            .added
            .fetch_add(delta, Ordering::Relaxed);
    }

    /// Subtracts `delta`. Call it only after what it counted has been unpublished.
    #[inline]
    pub fn sub(&self, delta: usize) {
        // Release: pairs with the Acquire loads of `removed` in `sum`, so a reader that counts
        // this subtraction also sees every addition that happened before it, the matching one
        // included.
        self.stripes[stripe_index()]
            .removed
            .fetch_add(delta, Ordering::Release);
    }

    /// The total: never less than what was added before the call and not removed before it
    /// ended, when the callers keep the protocol; exact when no update is in flight; may count
    /// additions made or begun during the call. See the module docs.
    pub fn sum(&self) -> usize {
        // First pass, Acquire: pairs with the Release in `sub`. For every subtraction this
        // pass counts, the addition it undoes happened-before it (the caller's protocol), so
        // it happens-before the loads of the second pass, which by read-write coherence then
        // return at least that addition. The two passes must not be merged: reading a
        // stripe's `added` before another stripe's `removed` loses that edge.
        let removed = self.stripes.iter().fold(0usize, |total, stripe| {
            total.wrapping_add(stripe.removed.load(Ordering::Acquire))
        });
        // Second pass, Relaxed: the ordering comes from the first pass (see above).
        let added = self.stripes.iter().fold(0usize, |total, stripe| {
            total.wrapping_add(stripe.added.load(Ordering::Relaxed))
        });
        let total = added.wrapping_sub(removed);
        // Only a caller outside the protocol can make the total "negative"; clamp it.
        if total > isize::MAX as usize {
            0
        } else {
            total
        }
    }

    /// Sets the total to zero. Only meaningful when no update is in flight.
    pub fn reset(&self) {
        for stripe in self.stripes.iter() {
            // Relaxed: with no update in flight there is nothing to order against; the caller
            // synchronises with later readers by other means.
            stripe.added.store(0, Ordering::Relaxed);
            stripe.removed.store(0, Ordering::Relaxed);
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

/// Under loom, thread `i` of the model (0 is the main thread, then in spawn order) uses
/// stripe `i % STRIPES`. The index is a pure function of the thread, so an execution replays
/// exactly, and no std static leaks state between iterations. loom's `ThreadId` exposes its
/// number only through `Debug` ("ThreadId(3)").
#[cfg(loom)]
#[inline]
fn stripe_index() -> usize {
    let id = format!("{:?}", loom::thread::current().id());
    let number: usize = id
        .trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .expect("loom's ThreadId prints as ThreadId(n)");
    number % STRIPES
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
