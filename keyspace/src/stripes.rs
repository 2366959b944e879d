//! # Key stripes: multi-key commands under the shared guard
//!
//! Every key hashes to one of [`STRIPES`] stripes, each a small reader-writer word. A command
//! that must be seen whole across several keys locks its keys' stripes, in index order, for
//! its duration ([`Db::lock_keys`](crate::Db::lock_keys)), under the *shared* guard:
//!
//! * a write of several independent keys (`MSET`, `DEL a b`) takes them as a writer;
//! * a read of several keys (`MGET`, `EXISTS a b`) takes them as a reader.
//!
//! A single-key operation takes nothing: before it touches the engine it looks at one
//! counter, the number of stripe writers at work on this keyspace, and only while that is
//! nonzero does it hash its key and wait while a writer holds that stripe
//! (`Stripes::settle`). A server that runs no multi-key write pays one load of a line no
//! one writes.
//!
//! ## Why: the exclusive guard serialised every loop
//!
//! Before stripes, every `MSET` of several keys took the keyspace's exclusive guard: it waited
//! for every other loop's batch to end, and no other loop ran anything while it wrote. With
//! stripes two `MSET`s wait for each other only when they share a stripe (10 random keys
//! each, 1024 stripes: about one pair in eleven), and a single-key command only when a writer
//! holds its own stripe. Measured (`bench-results/server-mset-stripes.md`): `MSET -P 16` with
//! two loops 1.66x faster. (`MSET -P 1`'s p99 with two loops did not change: that is the
//! loops waiting for a core they share with the client, not the lock.)
//!
//! ## What is atomic with what
//!
//! A stripe writer locks every stripe of its keys before its first write and releases them
//! after its last, and it counts itself in `writers` before it locks the first one. An
//! operation on key `k` that starts after any effect of the writer could have been seen
//! (after the writer's first write, which follows its count and locks) finds `writers`
//! nonzero and `k`'s stripe held, and waits until the writer is done: so no operation that
//! follows an observation of a multi-key write can see it half done, or write under it.
//!
//! An operation that looked before the writer locked its stripe is *concurrent* with it, and
//! lands on its one key either before the writer's write of that key or after it. That is
//! harmless exactly when the writer's keys are written *independently*: each write a whole
//! replacement or removal that reads nothing of the other keys. Then each concurrent
//! single-key operation is ordered before or after the multi-key write by where it landed on
//! its own key, and as every one of them started before the writer locked and ends after the
//! writer's first write, no order of real time contradicts that. `MSET`, `DEL` and `UNLINK`
//! are such writes. A multi-key write whose result depends on what it read (`MSETNX`'s
//! existence check, `RENAME`, `COPY`, `LMOVE`) could be broken by such an operation landing
//! between its read and its write, so it keeps the exclusive guard, under which no
//! single-key operation is in flight at all.
//!
//! Readers of several keys take their stripes as readers, so they never see a stripe
//! writer's keys half written. Or, cheaper, they read *optimistically*
//! ([`Db::read_optimistically`](crate::Db::read_optimistically)): while no writer is at work
//! they read without stripes and afterwards check that the writers' word did not change (it
//! counts writers started as well as writers at work, so it never returns to an old value).
//! A writer whose write such a read saw had counted itself before writing, so the check sees
//! it, and the read is done again under the stripes. Whole-keyspace reads (`KEYS`, `SCAN`, `DBSIZE`, `RANDOMKEY`)
//! take no stripes: they were never snapshots of an instant (they walk a map other loops
//! write), and they may now also see some of a multi-key write's keys and not the others.
//!
//! ## No deadlock
//!
//! Stripes are taken in index order, each stripe once, always after the guard and never while
//! waiting for anything else; a stripe holder takes no container's lock (its writes are whole
//! replacements and removals, its reads look at strings). A single-key operation waits while
//! holding no stripe, possibly holding a container's lock: no stripe holder waits for that.
//! A thread that holds writer stripes never waits for a stripe in `settle`: the keys it
//! writes are the ones it locked.
//!
//! Waiting spins briefly and then yields the processor, so a holder preempted on a shared
//! core gets it back.

use foldhash::fast::FixedState;
use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// How many stripes a keyspace has. Two calls that lock `a` and `b` distinct keys collide
/// with a probability of about `a * b / STRIPES`.
pub const STRIPES: usize = 1024;

/// The writer bit of a stripe word; the bits below count readers.
const WRITER: u32 = 1 << 31;

/// Spins before a waiter starts yielding. A stripe is held for one command's keyspace work
/// (microseconds), so a waiter whose holder is running finds it free within the spins.
const SPINS: u32 = 256;

/// The hash that picks a key's stripe: fixed, so every thread picks the same stripe.
const SEED: u64 = 0x5eed_0f57_21be_5c0d;

/// One stripe, alone on its cache line: a writer's lock must not slow the loops reading its
/// neighbours.
#[repr(align(64))]
#[derive(Default)]
struct Stripe(AtomicU32);

/// The writers' word, on its own line (every multi-key write changes it): the number of
/// writers at work in the low 32 bits, the number that ever started in the high 32. A writer
/// adds [`STARTED`] + 1 before it locks its first stripe and subtracts 1 after releasing its
/// last, so the word never returns to a value it had: an optimistic reader that finds it
/// unchanged knows no writer started in between.
#[repr(align(64))]
#[derive(Default)]
struct Writers(AtomicU64);

/// One more writer started.
const STARTED: u64 = 1 << 32;
/// The writers at work.
const ACTIVE: u64 = STARTED - 1;

/// Whether a stripe is taken to read or to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Shared with other readers; excludes writers.
    Read,
    /// Excludes readers and writers.
    Write,
}

thread_local! {
    /// How many writer [`Held`]s this thread has: while it has one, its single-key operations
    /// do not wait (they are the held keys' own writes).
    static WRITING: Cell<u32> = const { Cell::new(0) };
}

/// A keyspace's stripes. The table is allocated at the first multi-key command.
#[derive(Default)]
pub(crate) struct Stripes {
    writers: Writers,
    table: OnceLock<Box<[Stripe]>>,
}

impl Stripes {
    /// The stripe `key` hashes to.
    fn index(key: &[u8]) -> usize {
        // The high bits: foldhash's best mixed.
        (FixedState::with_seed(SEED).hash_one(key) >> 40) as usize % STRIPES
    }

    fn table(&self) -> &[Stripe] {
        self.table
            .get_or_init(|| (0..STRIPES).map(|_| Stripe::default()).collect())
    }

    /// Locks the stripes of `keys` with `access`, in index order, each once.
    pub(crate) fn lock<'s, 'k>(
        &'s self,
        keys: impl IntoIterator<Item = &'k [u8]>,
        access: Access,
    ) -> Held<'s> {
        let mut indexes = Indexes::default();
        for key in keys {
            indexes.insert(Self::index(key) as u16);
        }
        indexes.finish();
        let table = self.table();
        if access == Access::Write {
            // Counted before the first stripe is locked: see the module docs.
            self.writers.0.fetch_add(STARTED + 1, Ordering::SeqCst);
            WRITING.with(|writing| writing.set(writing.get() + 1));
        }
        for &index in indexes.as_slice() {
            let stripe = &table[usize::from(index)].0;
            match access {
                Access::Write => wait_until(|| {
                    stripe
                        .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                }),
                Access::Read => wait_until(|| {
                    let word = stripe.load(Ordering::Relaxed);
                    word & WRITER == 0
                        && stripe
                            .compare_exchange_weak(
                                word,
                                word + 1,
                                Ordering::Acquire,
                                Ordering::Relaxed,
                            )
                            .is_ok()
                }),
            }
        }
        Held {
            stripes: self,
            indexes,
            access,
        }
    }

    /// Waits while a stripe writer other than this thread holds `key`'s stripe: what every
    /// single-key operation does before it touches the engine (see the module docs).
    #[inline]
    pub(crate) fn settle(&self, key: &[u8]) {
        // Acquire: pairs with the writer's count, so a nonzero count is seen by every
        // operation that follows an observation of its writes.
        if self.writers.0.load(Ordering::Acquire) & ACTIVE != 0 {
            self.settle_slow(key);
        }
    }

    #[cold]
    fn settle_slow(&self, key: &[u8]) {
        if WRITING.with(Cell::get) != 0 {
            return;
        }
        let Some(table) = self.table.get() else {
            return;
        };
        let stripe = &table[Self::index(key)].0;
        wait_until(|| stripe.load(Ordering::Acquire) & WRITER == 0);
    }

    /// How many stripe writers are at work (for tests).
    #[cfg(test)]
    pub(crate) fn writers(&self) -> u64 {
        self.writers.0.load(Ordering::SeqCst) & ACTIVE
    }

    /// Starts an optimistic multi-key read: the writers' word if no writer is at work, else
    /// `None` (take the stripes instead). See [`Stripes::still_valid`].
    pub(crate) fn optimistic(&self) -> Option<u64> {
        // Acquire: a writer that finished before this load has its writes visible to the
        // reads that follow (its Release decrement heads the word's release sequence).
        let word = self.writers.0.load(Ordering::Acquire);
        (word & ACTIVE == 0).then_some(word)
    }

    /// Whether no writer started since [`Stripes::optimistic`] returned `word`: then the
    /// reads made in between saw no multi-key write half done. A writer whose write those
    /// reads saw had counted itself before that write, and the fence orders the reads before
    /// this load, so the load sees its count.
    pub(crate) fn still_valid(&self, word: u64) -> bool {
        fence(Ordering::Acquire);
        self.writers.0.load(Ordering::Relaxed) == word
    }
}

/// Spins on `ready` for a while, then yields between tries.
fn wait_until(mut ready: impl FnMut() -> bool) {
    let mut tries = 0u32;
    while !ready() {
        if tries < SPINS {
            std::hint::spin_loop();
            tries += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// How many stripe indexes a command keeps inline, sorted as they come in.
const INLINE: usize = 16;

/// A command's stripe indexes, in increasing order and each once (the order stripes are
/// taken in). Up to [`INLINE`] are kept sorted as they are inserted (an `MSET` of 10 keys
/// allocates nothing and sorts in a few dozen comparisons); past that they spill to a vector
/// sorted once at the end.
#[derive(Default)]
struct Indexes {
    len: usize,
    inline: [u16; INLINE],
    spilled: Vec<u16>,
}

impl Indexes {
    fn insert(&mut self, index: u16) {
        if !self.spilled.is_empty() {
            self.spilled.push(index);
            return;
        }
        // One step of insertion sort, from the end: for a handful of entries this beats a
        // binary search and a `memmove` call.
        let mut at = self.len;
        while at > 0 && self.inline[at - 1] > index {
            at -= 1;
        }
        if at > 0 && self.inline[at - 1] == index {
            return;
        }
        if self.len == INLINE {
            self.spilled.extend_from_slice(&self.inline);
            self.spilled.push(index);
            return;
        }
        let mut slot = self.len;
        while slot > at {
            self.inline[slot] = self.inline[slot - 1];
            slot -= 1;
        }
        self.inline[at] = index;
        self.len += 1;
    }

    /// Sorts and dedups what spilled; the inline part is sorted already.
    fn finish(&mut self) {
        if !self.spilled.is_empty() {
            self.spilled.sort_unstable();
            self.spilled.dedup();
        }
    }

    fn as_slice(&self) -> &[u16] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

/// Stripes held by one command; dropping it releases them.
pub(crate) struct Held<'s> {
    stripes: &'s Stripes,
    indexes: Indexes,
    access: Access,
}

impl Held<'_> {
    /// The access the stripes are held with.
    pub(crate) fn access(&self) -> Access {
        self.access
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let table = self.stripes.table();
        for &index in self.indexes.as_slice() {
            let stripe = &table[usize::from(index)].0;
            // Release: the holder's writes (or reads) happen before the next holder's.
            match self.access {
                Access::Write => stripe.store(0, Ordering::Release),
                Access::Read => {
                    stripe.fetch_sub(1, Ordering::Release);
                }
            }
        }
        if self.access == Access::Write {
            WRITING.with(|writing| writing.set(writing.get() - 1));
            self.stripes.writers.0.fetch_sub(1, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_key_always_hashes_to_the_same_stripe_and_keys_spread() {
        assert_eq!(Stripes::index(b"key:1"), Stripes::index(b"key:1"));
        let used: std::collections::HashSet<usize> = (0..10_000)
            .map(|i| Stripes::index(format!("key:{i:012}").as_bytes()))
            .collect();
        // 10k keys over 1024 stripes leave almost none empty.
        assert!(
            used.len() > STRIPES * 95 / 100,
            "{} stripes used",
            used.len()
        );
    }

    #[test]
    fn indexes_come_out_sorted_and_once_inline_and_spilled() {
        for count in [0usize, 1, 5, 16, 17, 40] {
            let mut indexes = Indexes::default();
            let mut expected = Vec::new();
            for i in 0..count {
                // Descending, with every third one repeated.
                let index = (1000 - i * 7) as u16;
                indexes.insert(index);
                expected.push(index);
                if i % 3 == 0 {
                    indexes.insert(index);
                }
            }
            indexes.finish();
            expected.sort_unstable();
            assert_eq!(indexes.as_slice(), expected.as_slice(), "{count}");
        }
    }

    #[test]
    fn writers_are_counted_while_held_and_a_key_named_twice_is_locked_once() {
        let stripes = Stripes::default();
        {
            let held = stripes.lock([&b"a"[..], b"b", b"a"], Access::Write);
            assert_eq!(stripes.writers(), 1);
            assert!(held.indexes.as_slice().len() <= 2);
            // This thread writes the keys it holds: it does not wait for itself.
            stripes.settle(b"a");
        }
        assert_eq!(stripes.writers(), 0);
        // Everything was released: a writer can take them again, and readers share.
        drop(stripes.lock([&b"a"[..], b"b"], Access::Write));
        let one = stripes.lock([&b"a"[..]], Access::Read);
        let two = stripes.lock([&b"a"[..]], Access::Read);
        drop((one, two));
        drop(stripes.lock([&b"a"[..]], Access::Write));
    }

    /// Runs `other` on a second thread while this thread holds `key`'s stripe as `held`;
    /// returns whether `other` finished before the stripe was released.
    fn finishes_while_held(held: Access, other: impl FnOnce(&Stripes) + Send + 'static) -> bool {
        let stripes = Arc::new(Stripes::default());
        let guard = stripes.lock([&b"k"[..]], held);
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stripes, done) = (Arc::clone(&stripes), Arc::clone(&done));
            std::thread::spawn(move || {
                other(&stripes);
                done.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let finished = done.load(Ordering::SeqCst);
        drop(guard);
        thread.join().expect("the other thread does not panic");
        assert!(
            done.load(Ordering::SeqCst),
            "the other thread finishes once released"
        );
        finished
    }

    #[test]
    fn a_writer_holds_back_single_key_operations_readers_and_writers_of_its_stripe() {
        assert!(!finishes_while_held(Access::Write, |s| s.settle(b"k")));
        assert!(!finishes_while_held(Access::Write, |s| drop(
            s.lock([&b"k"[..]], Access::Read)
        )));
        assert!(!finishes_while_held(Access::Write, |s| drop(
            s.lock([&b"k"[..]], Access::Write)
        )));
    }

    #[test]
    fn an_optimistic_read_is_refused_while_a_writer_works_and_invalid_once_one_started() {
        let stripes = Stripes::default();
        let word = stripes
            .optimistic()
            .expect("no writer: optimistic reads allowed");
        assert!(stripes.still_valid(word));
        // Readers do not invalidate it.
        drop(stripes.lock([&b"a"[..]], Access::Read));
        assert!(stripes.still_valid(word));
        {
            let _writer = stripes.lock([&b"a"[..]], Access::Write);
            assert!(stripes.optimistic().is_none(), "a writer is at work");
            assert!(!stripes.still_valid(word));
        }
        // Finished, the writer still invalidates a read that began before it.
        assert!(!stripes.still_valid(word));
        let again = stripes.optimistic().expect("no writer at work again");
        assert!(stripes.still_valid(again));
    }

    #[test]
    fn a_reader_holds_back_writers_only() {
        assert!(finishes_while_held(Access::Read, |s| s.settle(b"k")));
        assert!(finishes_while_held(Access::Read, |s| drop(
            s.lock([&b"k"[..]], Access::Read)
        )));
        assert!(!finishes_while_held(Access::Read, |s| drop(
            s.lock([&b"k"[..]], Access::Write)
        )));
    }

    #[test]
    fn other_stripes_are_not_held_back() {
        let other = (0..)
            .map(|i| format!("other:{i}"))
            .find(|key| Stripes::index(key.as_bytes()) != Stripes::index(b"k"))
            .expect("some key hashes elsewhere");
        assert!(finishes_while_held(Access::Write, move |s| {
            s.settle(other.as_bytes());
            drop(s.lock([other.as_bytes()], Access::Write));
        }));
    }
}
