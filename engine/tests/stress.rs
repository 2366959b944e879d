//! Multi-threaded stress tests whose assertions can fail, run against every back-end.
//!
//! * `counters_lose_no_update`: concurrent read-modify-write increments; every increment is
//!   counted once, and the versions order the increments the way the counts do.
//! * `versions_never_go_backwards`: readers never see a key's version go back while writers
//!   update it, nor a single-writer key's values arrive out of order.
//! * `scan_sees_stable_keys_while_resizing`: full scans during heavy growth and shrinkage still
//!   visit every key that was present throughout.
//! * `a_stable_key_is_seen_beside_churn`: with one key stable and another inserted and removed
//!   by two threads, every full scan visits the stable key and `len` never reads 0.
//! * `memory_returns_to_baseline`: a counting global allocator shows that fill-and-drain churn
//!   frees what it allocated.
//!
//! A background churn thread inserts and removes keys in waves during the first two tests, so
//! they also run while tables resize. Sizes come from `common::sized`: tiny under Miri, a few
//! seconds per back-end by default, and much larger with `WORKINGDB_STRESS=long`. Nothing here
//! asserts on timing; loops that wait for another thread wait for a count, not a clock.
//!
//! The tests in this binary run one at a time (see [`one_at_a_time`]): the allocation counter
//! is global, so another test running alongside would move it, and the stress tests saturate
//! the cores anyway.

#![cfg(not(loom))]

#[macro_use]
mod common;

use common::{counter_value, full_scan, read_counter, sized, Value};
use engine::{Decision, Engine, Meta};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;

/// Counts the bytes currently allocated by this test binary, on top of the system allocator.
struct CountingAllocator;

/// Live heap bytes: allocated minus freed.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

/// Moves the live count. Relaxed: the count publishes no memory, and the test reads it only
/// after joining the threads that moved it, and a join orders their increments before the read.
fn count(bytes: isize) {
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
}

fn live_bytes() -> isize {
    // Relaxed: see `count`.
    LIVE_BYTES.load(Ordering::Relaxed)
}

// SAFETY: every method forwards to `System` with the caller's arguments, so `System`'s
// guarantees are ours; the counting touches only an atomic and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (a non-zero-size layout).
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (that is, `System`) returned, with
        // the layout it was allocated with.
        unsafe { System.dealloc(pointer, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a block `System` returned with its layout, and a valid
        // non-zero new size.
        let new_pointer = unsafe { System.realloc(pointer, layout, new_size) };
        if !new_pointer.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new_pointer
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Serialises the tests of this binary; see the module docs.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next test has nothing to recover, so it goes on.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs its closure when dropped, also while unwinding from a failed assertion. The tests use
/// it to release the threads that wait on a flag or a count, so a failure in one thread ends
/// the test with that failure instead of leaving the others waiting forever.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// Sets `flag` when dropped. Release: pairs with the waiters' Acquire loads.
fn set_on_drop(flag: &AtomicBool) -> OnDrop<impl FnMut() + '_> {
    OnDrop(move || flag.store(true, Ordering::Release))
}

/// Inserts and removes waves of keys until `stop` is set, so tables grow and shrink while the
/// test's other threads work. Its keys start with `churn:` and never collide with theirs.
fn churn<E: Engine<Value = Value>>(engine: &E, stop: &AtomicBool) {
    let wave = sized(16, 5000, 50_000);
    // Acquire pairs with the Release store that ends the test; nothing else is published.
    while !stop.load(Ordering::Acquire) {
        for index in 0..wave {
            engine.insert(
                format!("churn:{index}").as_bytes(),
                Vec::new(),
                Meta::default(),
            );
        }
        for index in 0..wave {
            assert!(
                engine.remove(format!("churn:{index}").as_bytes()).is_some(),
                "{}: churn key lost",
                E::NAME
            );
        }
    }
}

for_each_engine!(counters_lose_no_update, counters_lose_no_update);
fn counters_lose_no_update<E: Engine<Value = Value>>() {
    let _serial = one_at_a_time();
    let threads = 4;
    let counters = 8;
    let increments_per_thread = sized(30, 50_000, 1_000_000);
    let engine = E::new();
    let counter_key = |counter: usize| format!("counter:{counter}").into_bytes();
    let stop_churn = AtomicBool::new(false);

    // Each thread returns, per counter, the (count before, version) of every increment it made.
    let observations: Vec<Vec<Vec<(u64, u64)>>> = thread::scope(|scope| {
        scope.spawn(|| churn(&engine, &stop_churn));
        // Stops the churn when the workers are done, or when one of them failed.
        let _stop_churn = set_on_drop(&stop_churn);
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let engine = &engine;
                scope.spawn(move || {
                    let mut seen = vec![Vec::new(); counters];
                    for increment in 0..increments_per_thread {
                        // Threads walk the counters in different orders, so they collide.
                        let counter = (increment * (2 * thread + 1) + thread) % counters;
                        let updated = engine.update(&counter_key(counter), |entry| {
                            let before = entry.map_or(0, |entry| read_counter(&entry.value));
                            (
                                Decision::Replace {
                                    value: counter_value(before + 1),
                                    meta: Meta::default(),
                                },
                                before,
                            )
                        });
                        let version = updated.version.expect("Replace installs a version");
                        seen[counter].push((updated.output, version));
                    }
                    seen
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect()
    });

    for counter in 0..counters {
        let mut increments: Vec<(u64, u64)> = observations
            .iter()
            .flat_map(|seen| seen[counter].iter().copied())
            .collect();
        let total = increments.len() as u64;
        let (stored, stored_version) = engine
            .get(&counter_key(counter), |entry| {
                (read_counter(&entry.value), entry.version)
            })
            .expect("every counter was incremented");
        assert_eq!(
            stored,
            total,
            "{}: counter {counter} lost {} updates",
            E::NAME,
            total - stored.min(total)
        );

        // Every increment saw a different count, 0 to total - 1: none was applied twice or
        // based on a stale read.
        increments.sort_unstable();
        for (expected, (before, _)) in increments.iter().enumerate() {
            assert_eq!(
                *before,
                expected as u64,
                "{}: counter {counter}: two increments saw the same count",
                E::NAME
            );
        }
        // The versions order the increments as the counts do, and the last one is stored.
        for pair in increments.windows(2) {
            assert!(
                pair[1].1 > pair[0].1,
                "{}: counter {counter}: the increment from {} got version {}, not above {} of the one before",
                E::NAME,
                pair[1].0,
                pair[1].1,
                pair[0].1
            );
        }
        assert_eq!(
            Some(stored_version),
            increments.last().map(|&(_, version)| version)
        );
    }
}

for_each_engine!(versions_never_go_backwards, versions_never_go_backwards);
/// Writers update two kinds of keys while readers read them all, over and over:
///
/// * owned keys, one writer each, holding that writer's write count: a reader must see both
///   the version and the count only go forward, and a new count always with a new version;
/// * shared keys, written by every writer at once: a reader must see the version only go
///   forward. A back-end that draws the version before it installs the write (so a slower
///   writer can install an older version over a newer one) fails here.
fn versions_never_go_backwards<E: Engine<Value = Value>>() {
    let _serial = one_at_a_time();
    let writers = 2;
    let owned_per_writer = 4;
    let shared_keys = 2;
    let readers = 2;
    let writes = sized(20, 20_000, 500_000) as u64;
    let engine = E::new();
    let owned_key = |writer: usize, index: usize| format!("owned:{writer}:{index}").into_bytes();
    let shared_key = |index: usize| format!("shared:{index}").into_bytes();
    // The owned keys first, then the shared ones.
    let all_keys: Vec<Vec<u8>> = (0..writers)
        .flat_map(|writer| (0..owned_per_writer).map(move |index| owned_key(writer, index)))
        .chain((0..shared_keys).map(shared_key))
        .collect();
    let owned_keys = writers * owned_per_writer;
    let writers_done = AtomicBool::new(false);
    let stop_churn = AtomicBool::new(false);

    thread::scope(|scope| {
        scope.spawn(|| churn(&engine, &stop_churn));
        // Dropped last: stops the churn once the readers are done, or when something failed.
        let _stop_churn = set_on_drop(&stop_churn);
        let readers: Vec<_> = (0..readers)
            .map(|reader| {
                let (engine, all_keys, writers_done) = (&engine, &all_keys, &writers_done);
                scope.spawn(move || {
                    // The last (version, value) this reader saw per key; (0, 0) before the
                    // first write. Values are counters: an owned key's holds its writer's
                    // write count, a shared key's the count of whichever writer was last.
                    let mut last = vec![(0u64, 0u64); all_keys.len()];
                    let mut check = |index: usize, seen: Option<(u64, u64)>| {
                        // A key may not exist yet; once it does, it is never removed.
                        let Some((version, value)) = seen else {
                            assert_eq!(
                                last[index],
                                (0, 0),
                                "{}: a written key disappeared",
                                E::NAME
                            );
                            return;
                        };
                        let (last_version, last_value) = last[index];
                        assert!(
                            version >= last_version,
                            "{}: reader {reader}, key {:?}: version went from {last_version} back \
                             to {version}",
                            E::NAME,
                            String::from_utf8_lossy(&all_keys[index])
                        );
                        if index < owned_keys {
                            assert!(
                                value >= last_value,
                                "{}: reader {reader}, key {index}: went from write {last_value} \
                                 back to write {value}",
                                E::NAME
                            );
                            assert_eq!(
                                version == last_version,
                                value == last_value,
                                "{}: reader {reader}, key {index}: one version for two writes, or \
                                 two versions for one write",
                                E::NAME
                            );
                        }
                        last[index] = (version, value);
                    };
                    let mut rounds = 0usize;
                    loop {
                        // Acquire: pairs with the Release below, so the last round sees the
                        // writers' final writes.
                        let done = writers_done.load(Ordering::Acquire);
                        for (index, key) in all_keys.iter().enumerate() {
                            // Alternate the two read paths: `get` and an `update` that keeps.
                            let seen = if (rounds + index).is_multiple_of(2) {
                                engine.get(key, |entry| (entry.version, read_counter(&entry.value)))
                            } else {
                                engine
                                    .update(key, |entry| {
                                        let seen =
                                            entry.map(|e| (e.version, read_counter(&e.value)));
                                        (Decision::Keep, seen)
                                    })
                                    .output
                            };
                            check(index, seen);
                        }
                        rounds += 1;
                        if done {
                            break;
                        }
                    }
                    // After the writers finished, every owned key holds its last write.
                    for (index, &(_, value)) in last.iter().enumerate().take(owned_keys) {
                        assert_eq!(
                            value,
                            writes,
                            "{}: reader {reader}: key {index} ends at an old write",
                            E::NAME
                        );
                    }
                })
            })
            .collect();
        let writer_threads: Vec<_> = (0..writers)
            .map(|writer| {
                let engine = &engine;
                scope.spawn(move || {
                    let keys: Vec<Vec<u8>> = (0..owned_per_writer)
                        .map(|index| owned_key(writer, index))
                        .chain((0..shared_keys).map(shared_key))
                        .collect();
                    let mut last_versions = vec![0u64; keys.len()];
                    for sequence in 1..=writes {
                        for (key, last_version) in keys.iter().zip(&mut last_versions) {
                            // Alternate blind inserts and read-modify-writes.
                            let version = if sequence % 2 == 0 {
                                engine
                                    .insert(key, counter_value(sequence), Meta::default())
                                    .version
                            } else {
                                engine
                                    .update(key, |_| {
                                        let value = counter_value(sequence);
                                        (
                                            Decision::Replace {
                                                value,
                                                meta: Meta::default(),
                                            },
                                            (),
                                        )
                                    })
                                    .version
                                    .expect("Replace installs a version")
                            };
                            assert!(
                                version > *last_version,
                                "{}: a writer's versions went backwards",
                                E::NAME
                            );
                            *last_version = version;
                        }
                    }
                })
            })
            .collect();
        {
            // Releases the readers once the writers are done, or when one of them failed.
            let _writers_done = set_on_drop(&writers_done);
            for writer in writer_threads {
                writer.join().unwrap();
            }
        }
        for reader in readers {
            reader.join().unwrap();
        }
    });
    // Quiet now: every shared key's version is the last one drawn for it, and the clock's
    // current value is at least that.
    for index in 0..shared_keys {
        let version = engine
            .get(&shared_key(index), |entry| entry.version)
            .expect("written");
        assert!(version <= engine.versions().current());
    }
}

for_each_engine!(
    scan_sees_stable_keys_while_resizing,
    scan_sees_stable_keys_while_resizing
);
fn scan_sees_stable_keys_while_resizing<E: Engine<Value = Value>>() {
    let _serial = one_at_a_time();
    let stable_keys = sized(16, 1000, 10_000);
    let writers = 2;
    let wave = sized(32, 10_000, 200_000);
    let waves_min = 2;
    let scan_counts = [16, 1000];
    let scans_min = sized(1, 3, 20);
    let engine = E::with_capacity(0);
    let stable: HashSet<Vec<u8>> = (0..stable_keys)
        .map(|index| format!("stable:{index}").into_bytes())
        .collect();
    for key in &stable {
        engine.insert(key, key.clone(), Meta::default());
    }
    // Scanners that have finished `scans_min` scans; writers keep resizing until all have.
    let scanners_satisfied = AtomicUsize::new(0);
    let writers_done = AtomicBool::new(false);

    thread::scope(|scope| {
        for count in scan_counts {
            let (engine, stable, scanners_satisfied, writers_done) =
                (&engine, &stable, &scanners_satisfied, &writers_done);
            scope.spawn(move || {
                // A scanner that fails counts as satisfied, so the writers stop waiting for it.
                let _release_writers = OnDrop(|| {
                    if thread::panicking() {
                        // Relaxed: see the other increment below.
                        scanners_satisfied.fetch_add(1, Ordering::Relaxed);
                    }
                });
                let mut scans = 0;
                loop {
                    // Acquire: pairs with the writers' Release (`set_on_drop`); ends the loop.
                    let done = writers_done.load(Ordering::Acquire);
                    let mut visited = HashSet::new();
                    for (key, _, _, value) in full_scan(engine, count) {
                        if key.starts_with(b"stable:") {
                            assert_eq!(value, key, "{}: a stable key's value changed", E::NAME);
                        } else {
                            assert!(
                                key.starts_with(b"resize:"),
                                "{}: visited a key never inserted: {key:?}",
                                E::NAME
                            );
                        }
                        visited.insert(key);
                    }
                    let missed: Vec<_> = stable.difference(&visited).take(5).collect();
                    assert!(
                        missed.is_empty(),
                        "{}: scan {scans} (count {count}) missed stable keys, e.g. {missed:?}",
                        E::NAME
                    );
                    scans += 1;
                    if scans == scans_min {
                        // Relaxed: a counter the writers poll; it publishes nothing.
                        scanners_satisfied.fetch_add(1, Ordering::Relaxed);
                    }
                    if scans >= scans_min && done {
                        break;
                    }
                }
            });
        }
        let writer_threads: Vec<_> = (0..writers)
            .map(|writer| {
                let (engine, scanners_satisfied) = (&engine, &scanners_satisfied);
                scope.spawn(move || {
                    let key = |index: usize| format!("resize:{writer}:{index}").into_bytes();
                    let mut waves = 0;
                    // Relaxed: see the scanners.
                    while waves < waves_min
                        || scanners_satisfied.load(Ordering::Relaxed) < scan_counts.len()
                    {
                        for index in 0..wave {
                            engine.insert(&key(index), Vec::new(), Meta::default());
                        }
                        for index in 0..wave {
                            assert!(
                                engine.remove(&key(index)).is_some(),
                                "{}: a resize key was lost",
                                E::NAME
                            );
                        }
                        waves += 1;
                    }
                })
            })
            .collect();
        // Releases the scanners once the writers are done, or when one of them failed.
        let _writers_done = set_on_drop(&writers_done);
        for writer in writer_threads {
            writer.join().unwrap();
        }
    });
    assert_eq!(engine.len(), stable_keys);
}

for_each_engine!(
    a_stable_key_is_seen_beside_churn,
    a_stable_key_is_seen_beside_churn
);
/// One key that stays, and two threads that insert and remove one other key as fast as they
/// can: every full scan must visit the stable key, and `len` must never read less than 1.
///
/// Issue 16: the lock-free table's live count could read 0 here (an insert's compare-and-swap
/// landed, the insert was not counted yet, a removal of that key was; or the sum read the
/// inserting thread's stripe early and the removing thread's late), and `scan` answered "empty"
/// whenever the count read 0: 20 of 2.9M scans missed the stable key. Both threads insert and
/// remove, so whichever order their counter stripes are read in, one of them inserts in the
/// stripe read first.
///
/// `len` is checked on every back-end but flurry, whose count is one atomic updated after each
/// write (so a removal can be counted before the insert it undoes, and it reads 0 too); the
/// Engine contract calls `len` approximate under writes, and flurry is a third-party baseline.
fn a_stable_key_is_seen_beside_churn<E: Engine<Value = Value>>() {
    let _serial = one_at_a_time();
    let scans = sized(30, 200_000, 5_000_000);
    let checks_len = E::NAME != engine::flurry::FlurryEngine::<Value>::NAME;
    let engine = E::with_capacity(0);
    engine.insert(b"stable", b"stable".to_vec(), Meta::default());
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        for _ in 0..2 {
            let (engine, stop) = (&engine, &stop);
            scope.spawn(move || {
                // Acquire pairs with the Release store that ends the test; nothing else is
                // published through it.
                while !stop.load(Ordering::Acquire) {
                    engine.insert(b"churn", Vec::new(), Meta::default());
                    engine.remove(b"churn");
                }
            });
        }
        // Stops the churn when the scans are done, or when an assertion below fails.
        let _stop = set_on_drop(&stop);
        for scan in 0..scans {
            if checks_len {
                let len = engine.len();
                assert!(len >= 1, "{}: len() read {len} at scan {scan}", E::NAME);
            }
            let mut stable_seen = false;
            for (key, _, _, value) in full_scan(&engine, 10) {
                if key == b"stable" {
                    assert_eq!(value, key, "{}: the stable key's value changed", E::NAME);
                    stable_seen = true;
                } else {
                    assert_eq!(key, b"churn", "{}: visited a key never inserted", E::NAME);
                }
            }
            assert!(
                stable_seen,
                "{}: full scan {scan} of {scans} missed the stable key",
                E::NAME
            );
        }
    });
}

// The lock-free table with its nodes from this binary's (counting) global allocator: with its
// default allocator, mimalloc, the nodes would not be counted.
for_each_engine!(
    memory_returns_to_baseline,
    memory_returns_to_baseline,
    lockfree = ::engine::LockFree<
        crate::common::Value,
        ::engine::lockfree::DefaultHasher,
        ::engine::lockfree::GlobalAllocator,
    >
);
/// Fills and drains the map from several threads, several times, and checks the allocation
/// count: well above the baseline when full, back near it when drained, and back to it once
/// the map is dropped.
///
/// The "drained but alive" bound is asserted only for the lock-free table, the one back-end
/// that promises to shrink; `RwLock<HashMap>` shards, dashmap and flurry keep their grown
/// capacity (their numbers are printed for the record). Every back-end must give everything
/// back when dropped.
fn memory_returns_to_baseline<E: Engine<Value = Value>>() {
    /// Each value is a separate allocation of this size, so a full map holds at least
    /// `keys * VALUE_BYTES` bytes: the lower bound the fill must reach.
    const VALUE_BYTES: usize = 64;
    /// What a drained lock-free table may still hold: its minimum table, the epoch collector's
    /// per-thread bags and the garbage not yet collected.
    const DRAINED_MARGIN_BYTES: isize = 4 << 20;
    /// What may remain after the map is dropped: the collector's per-thread state.
    const DROPPED_MARGIN_BYTES: isize = 1 << 20;
    /// Flushes per thread; each collects a bounded number of the epoch collector's bags.
    const FLUSHES_PER_THREAD: usize = 8;
    /// Flushes from the test thread at the end, to collect garbage the workers left.
    const FLUSHES_AT_END: usize = 256;

    let _serial = one_at_a_time();
    let threads = 4;
    let keys = sized(64, 200_000, 1_000_000);
    let rounds = sized(1, 2, 10);
    let flush = |times: usize| {
        for _ in 0..times {
            crossbeam_epoch::pin().flush();
        }
    };

    flush(FLUSHES_AT_END);
    let baseline = live_bytes();
    let engine = E::with_capacity(0);
    let key = |index: usize| format!("memory:{index}").into_bytes();
    for round in 0..rounds {
        thread::scope(|scope| {
            for thread in 0..threads {
                let engine = &engine;
                scope.spawn(move || {
                    for index in (thread..keys).step_by(threads) {
                        engine.insert(&key(index), vec![round as u8; VALUE_BYTES], Meta::default());
                    }
                });
            }
        });
        let full = live_bytes();
        assert_eq!(engine.len(), keys);
        assert!(
            full - baseline >= (keys * VALUE_BYTES) as isize,
            "{}: a full map of {keys} keys holds only {} bytes: the allocation count is broken",
            E::NAME,
            full - baseline
        );
        thread::scope(|scope| {
            for thread in 0..threads {
                let engine = &engine;
                scope.spawn(move || {
                    // Remove in another interleaving than the one that inserted.
                    for index in ((threads - 1 - thread)..keys).step_by(threads) {
                        assert!(
                            engine.remove(&key(index)).is_some(),
                            "{}: key {index} lost",
                            E::NAME
                        );
                    }
                    flush(FLUSHES_PER_THREAD);
                });
            }
        });
        assert!(engine.is_empty());
        eprintln!(
            "{}: round {round}: full {} bytes above baseline",
            E::NAME,
            full - baseline
        );
    }
    flush(FLUSHES_AT_END);
    let drained = live_bytes() - baseline;
    eprintln!("{}: drained: {drained} bytes above baseline", E::NAME);
    if E::NAME == engine::LockFree::<Value>::NAME {
        assert!(
            drained <= DRAINED_MARGIN_BYTES,
            "{}: a drained map still holds {drained} bytes above baseline (margin {DRAINED_MARGIN_BYTES})",
            E::NAME
        );
    }
    drop(engine);
    flush(FLUSHES_AT_END);
    let dropped = live_bytes() - baseline;
    eprintln!("{}: dropped: {dropped} bytes above baseline", E::NAME);
    assert!(
        dropped <= DROPPED_MARGIN_BYTES,
        "{}: {dropped} bytes above baseline remain after dropping the map (margin {DROPPED_MARGIN_BYTES})",
        E::NAME
    );
}
