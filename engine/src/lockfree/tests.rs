//! Tests of the lock-free table's own mechanics (the generic suite in `engine/tests/` covers
//! the Engine contract on every back-end).

use super::migration::{LIVE_SLACK, SHRINK_CHECK_PERIOD};
use super::*;
use std::hash::{BuildHasher, Hasher};

/// Every key hashes to the same value: every probe walks one long cluster and every key
/// comparison beyond the fingerprint is exercised.
#[derive(Clone, Copy, Default)]
struct Colliding;

impl BuildHasher for Colliding {
    type Hasher = CollidingHasher;
    fn build_hasher(&self) -> CollidingHasher {
        CollidingHasher
    }
}

struct CollidingHasher;

impl Hasher for CollidingHasher {
    fn finish(&self) -> u64 {
        0xabcd_0000_0000_0007
    }
    fn write(&mut self, _bytes: &[u8]) {}
}

fn key(i: usize) -> Vec<u8> {
    format!("key:{i}").into_bytes()
}

/// Retired nodes are freed by crossbeam-epoch's global collector after a grace period, from a
/// queue shared with every other test of this process (each `flush` collects a few bags from
/// its head), so flush until `done` or a generous deadline passes; the caller's assertion then
/// reports what is missing.
fn flush_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() && std::time::Instant::now() < deadline {
        epoch::pin().flush();
        std::thread::yield_now();
    }
}

fn sizes() -> (usize, usize) {
    if cfg!(miri) {
        (40, 2)
    } else {
        (20_000, 4)
    }
}

#[test]
fn colliding_keys_stay_distinct_through_removal_and_migration() {
    let map: LockFree<usize, Colliding> = LockFree::with_capacity_and_hasher(0, Colliding);
    let keys = if cfg!(miri) { 20 } else { 200 };
    for i in 0..keys {
        map.insert(&key(i), i, Meta::default());
    }
    for i in (0..keys).step_by(2) {
        assert!(map.remove(&key(i)).is_some());
    }
    for i in 0..keys {
        let expected = (i % 2 == 1).then_some(i);
        assert_eq!(map.get(&key(i), |entry| entry.value), expected, "key {i}");
    }
    // Re-inserting a removed key reuses its tombstone: the count of live keys is exact.
    map.insert(&key(0), 1000, Meta::default());
    assert_eq!(map.len(), keys / 2 + 1);
    assert_eq!(map.get(&key(0), |entry| entry.value), Some(1000));
}

#[test]
fn grows_and_shrinks_back_after_a_drain() {
    // Enough keys that removals pass several shrink checks (one per SHRINK_CHECK_PERIOD
    // versions), even under miri.
    let keys = if cfg!(miri) { 300 } else { sizes().0 };
    let map: LockFree<Vec<u8>> = LockFree::default();
    let initial = map.capacity();
    for i in 0..keys {
        map.insert(&key(i), key(i), Meta::default());
    }
    let grown = map.capacity();
    assert!(grown >= keys, "capacity {grown} for {keys} keys");
    for i in 0..keys {
        assert_eq!(map.get(&key(i), |entry| entry.value.clone()), Some(key(i)));
    }
    for i in 0..keys {
        assert!(map.remove(&key(i)).is_some(), "key {i}");
    }
    assert_eq!(map.len(), 0);
    let drained = map.capacity();
    // A shrink targets twice the live keys plus LIVE_SLACK, so a drained map ends at most one
    // doubling above the table for LIVE_SLACK keys; the 20k-key run goes from 32768 to 256.
    let floor = capacity_for(LIVE_SLACK) * 2;
    assert!(
        drained * 8 <= grown || drained <= floor,
        "capacity {drained} after draining from {grown}"
    );
    assert!(drained >= initial);
}

/// A map created for many keys keeps that capacity while it fills up and after it drains:
/// a shrink stops at the capacity it was created with. bustle's RapidGrow (80% inserts, 5%
/// removals into a map created for 2^23 keys) used to shrink it to a few slots at the first
/// sampled removal and then copy it through every doubling on the way back up.
#[test]
fn a_presized_map_never_shrinks_below_its_initial_capacity() {
    let requested = if cfg!(miri) { 256 } else { 1 << 14 };
    let map: LockFree<usize> = LockFree::with_capacity(requested);
    let initial = map.capacity();
    assert!(initial >= requested);
    // Far more removals than SHRINK_CHECK_PERIOD, with few keys live at any time.
    let rounds = SHRINK_CHECK_PERIOD as usize * 8;
    for i in 0..rounds {
        map.insert(&key(i), i, Meta::default());
        assert!(map.remove(&key(i)).is_some(), "key {i}");
        assert_eq!(map.capacity(), initial, "after {i} insert-remove pairs");
    }
    // Drained, it may clean tombstones but never drops below what was asked for.
    assert_eq!(map.len(), 0);
    assert!(map.capacity() >= initial);
}

#[test]
fn load_factor_at_first_migration_is_reasonable() {
    // The first migration of a table that only receives distinct keys happens when an insert
    // would pass half of `displacement_max`; record how full the table was then.
    let map: LockFree<()> = LockFree::with_capacity(if cfg!(miri) { 1 << 8 } else { 1 << 15 });
    let capacity = map.capacity();
    let mut inserted = 0;
    while map.capacity() == capacity {
        map.insert(&key(inserted), (), Meta::default());
        inserted += 1;
    }
    let load = inserted as f64 / capacity as f64;
    println!("first migration of a {capacity}-slot table at load {load:.2}");
    assert!((0.3..0.95).contains(&load), "load factor {load}");
}

#[test]
fn clear_during_concurrent_writes_leaves_a_consistent_map() {
    let (keys, threads) = sizes();
    let map: LockFree<usize> = LockFree::default();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let map = &map;
            scope.spawn(move || {
                for i in 0..keys / threads {
                    map.insert(&key(thread * keys + i), i, Meta::default());
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..5 {
                map.clear();
            }
        });
    });
    // Whatever survived the clears is counted exactly and readable.
    let mut found = 0;
    let mut cursor = 0;
    loop {
        cursor = map.scan(cursor, 100, |_, _| found += 1);
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(found, map.len());
    map.clear();
    assert_eq!(map.len(), 0);
    assert!(map.get(&key(1), |_| ()).is_none());
}

#[test]
fn update_during_migration_never_loses_an_increment() {
    let (keys, threads) = sizes();
    let per_thread = keys / 4;
    let map: LockFree<u64> = LockFree::default();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let map = &map;
            scope.spawn(move || {
                for i in 0..per_thread {
                    // Fresh keys force migrations while every thread hammers one counter.
                    map.insert(
                        &key(thread * per_thread + i + 1_000_000),
                        0,
                        Meta::default(),
                    );
                    map.update(b"counter", |current| {
                        let next = current.map_or(0, |entry| entry.value) + 1;
                        (
                            Decision::Replace {
                                value: next,
                                meta: Meta::default(),
                            },
                            (),
                        )
                    });
                }
            });
        }
    });
    assert_eq!(
        map.get(b"counter", |entry| entry.value),
        Some((threads * per_thread) as u64)
    );
}

#[test]
fn values_are_dropped_exactly_once() {
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, StdOrdering::Relaxed);
        }
    }
    let (keys, _) = sizes();
    {
        let map: LockFree<Counted> = LockFree::default();
        for i in 0..keys {
            map.insert(&key(i % (keys / 2)), Counted, Meta::default());
        }
        for i in 0..keys / 4 {
            map.remove(&key(i));
        }
        map.clear();
        for i in 0..10 {
            map.insert(&key(i), Counted, Meta::default());
        }
    }
    flush_until(|| DROPS.load(StdOrdering::Relaxed) == keys + 10);
    assert_eq!(DROPS.load(StdOrdering::Relaxed), keys + 10);
}

#[test]
fn values_are_dropped_exactly_once_across_threads() {
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    static CREATED: AtomicUsize = AtomicUsize::new(0);
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Counted {
        fn new() -> Self {
            CREATED.fetch_add(1, StdOrdering::Relaxed);
            Counted
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, StdOrdering::Relaxed);
        }
    }
    let (keys, threads) = sizes();
    {
        let map: LockFree<Counted> = LockFree::default();
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let map = &map;
                scope.spawn(move || {
                    // Threads fight over a shared key range: replacements, removals, revivals
                    // and the migrations they cause all retire nodes concurrently.
                    for i in 0..keys / threads {
                        let key = key((i * 7 + thread) % (keys / 4));
                        match i % 4 {
                            0 | 1 => {
                                map.insert(&key, Counted::new(), Meta::default());
                            }
                            2 => {
                                map.remove(&key);
                            }
                            _ => {
                                map.update(&key, |current| match current {
                                    Some(_) => (Decision::Remove, ()),
                                    None => (
                                        Decision::Replace {
                                            value: Counted::new(),
                                            meta: Meta::default(),
                                        },
                                        (),
                                    ),
                                });
                            }
                        }
                    }
                });
            }
        });
    }
    flush_until(|| DROPS.load(StdOrdering::Relaxed) == CREATED.load(StdOrdering::Relaxed));
    assert_eq!(
        DROPS.load(StdOrdering::Relaxed),
        CREATED.load(StdOrdering::Relaxed)
    );
}

/// Issue 16, defect 2: a migration target sized from a live count that reads low must not
/// panic or lose keys. The under-read is forced by taking the count down by hand (a reader of
/// the striped counter sees the same thing when it races inserts and removals, see
/// `crate::counter`); removals then shrink the table on the next shrink check, to a target
/// sized for LIVE_SLACK keys while hundreds are live. It used to end in
/// `unreachable!("migration target has no empty slot")`.
#[test]
fn a_live_count_that_reads_low_never_overflows_a_migration_target() {
    let keys = if cfg!(miri) { 200 } else { 2_000 };
    let map: LockFree<usize> = LockFree::default();
    for i in 0..keys {
        map.insert(&key(i), i, Meta::default());
    }
    let grown = map.capacity();
    assert!(grown > capacity_for(LIVE_SLACK), "capacity {grown}");
    map.live.sub(keys);
    assert_eq!(map.len(), 0, "the count reads low");
    // Remove keys until a removal's version lands on a shrink check and a migration runs.
    let mut removed = 0;
    while map.capacity() == grown {
        assert!(
            removed < SHRINK_CHECK_PERIOD as usize * 2,
            "no shrink check ran"
        );
        assert!(map.remove(&key(removed)).is_some(), "key {removed}");
        removed += 1;
    }
    for i in 0..keys {
        let expected = (i >= removed).then_some(i);
        assert_eq!(map.get(&key(i), |entry| entry.value), expected, "key {i}");
    }
    // The target was replaced by larger ones until every live key fitted.
    assert!(
        map.capacity() >= keys - removed,
        "capacity {}",
        map.capacity()
    );
    let mut scanned = 0;
    let mut cursor = 0;
    loop {
        cursor = map.scan(cursor, 100, |_, _| scanned += 1);
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(scanned, keys - removed);
}

/// The same overflow reached from the side of the copy: a target too small for the table it
/// copies is replaced, however many times it takes, by concurrent helpers too.
#[test]
fn concurrent_helpers_replace_a_target_that_is_too_small() {
    let (keys, threads) = sizes();
    let keys = keys / 4;
    let map: LockFree<usize> = LockFree::default();
    for i in 0..keys {
        map.insert(&key(i), i, Meta::default());
    }
    {
        let guard = epoch::pin();
        // SAFETY: used under `guard` only.
        let table = unsafe { map.root(&guard) };
        // A target far too small: what a count that read 0 would produce.
        map.start_migration(table, CAPACITY_MIN, true);
    }
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let map = &map;
            scope.spawn(move || {
                // Writes help the migration (and replace the target as often as needed).
                for i in (thread..keys).step_by(threads) {
                    map.insert(&key(i), i + 1, Meta::default());
                }
            });
        }
    });
    assert_eq!(map.len(), keys);
    for i in 0..keys {
        assert_eq!(
            map.get(&key(i), |entry| entry.value),
            Some(i + 1),
            "key {i}"
        );
    }
}

/// Issue 16, defect 3: `clear` retires the whole old table, values and all. If that stays in
/// the clearing thread's crossbeam-epoch bag, a clearing thread that goes quiet (the sweeper
/// running a delayed `flush_all`) keeps every value forever. Here the clearing thread stays
/// alive and idle while another thread does a bounded amount of ordinary work (reads, which
/// pin the epoch and, every 128 pins, collect from the global queue); every cleared value must
/// be dropped within it.
#[test]
fn clear_frees_the_old_values_while_the_clearing_thread_is_quiet() {
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    use std::sync::mpsc;
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, StdOrdering::Relaxed);
        }
    }
    let (keys, reads_max) = if cfg!(miri) {
        (20, 20_000)
    } else {
        (10_000, 10_000_000)
    };
    let map: LockFree<Counted> = LockFree::default();
    for i in 0..keys {
        map.insert(&key(i), Counted, Meta::default());
    }
    assert_eq!(DROPS.load(StdOrdering::Relaxed), 0);
    let (cleared_sender, cleared) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let map = &map;
        scope.spawn(move || {
            map.clear();
            cleared_sender.send(()).unwrap();
            // Quiet, but alive: a thread's bag is also handed over when the thread exits.
            let _ = released.recv();
        });
        cleared.recv().unwrap();
        let mut reads = 0;
        while DROPS.load(StdOrdering::Relaxed) < keys && reads < reads_max {
            assert!(map.get(&key(reads % keys), |_| ()).is_none());
            reads += 1;
        }
        let drops = DROPS.load(StdOrdering::Relaxed);
        release.send(()).unwrap();
        assert_eq!(
            drops, keys,
            "{drops} of {keys} cleared values dropped after {reads} further reads"
        );
    });
}

/// Issue 16, defect 4: a node's key lies past `size_of::<Node>()`; reading it through a pointer
/// derived from a `&Node` is undefined behaviour under Stacked Borrows. This test pins no epoch
/// (crossbeam-epoch itself does not pass Stacked Borrows), so miri can run it with the default
/// aliasing model: `MIRIFLAGS=-Zmiri-ignore-leaks cargo +nightly miri test -p engine --lib
/// -- lockfree::tests::keys_are`.
#[test]
fn keys_are_read_with_the_provenance_of_the_whole_node() {
    for key in [
        &b""[..],
        b"k",
        b"a key longer than the node's header, of forty bytes",
    ] {
        let node =
            Node::alloc::<GlobalAllocator>(7, key, Some(Entry::new(1, Meta::default(), 5u64)));
        let word = SlotWord::new(node, 7, false);
        let pointer = word.node().expect("a node");
        // A shared reference to the header alive at the same time, as the readers hold one.
        // SAFETY: allocated above, not freed until the end of the loop body.
        let header = unsafe { pointer.as_ref() };
        assert_eq!(header.hash, 7);
        // SAFETY: as above.
        assert_eq!(unsafe { Node::key(pointer) }, key);
        assert_eq!(header.entry.as_ref().map(|entry| entry.value), Some(5));
        // SAFETY: never published, freed once.
        unsafe { Node::free::<GlobalAllocator>(node) };
    }
}

/// Counts the nodes allocated and freed through it, per `ID`, so each map of a test has its
/// own counts (frees run on whichever thread collects the garbage).
struct Counting<const ID: usize>;

static NODE_ALLOCS: [std::sync::atomic::AtomicUsize; 3] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 3];
static NODE_FREES: [std::sync::atomic::AtomicUsize; 3] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 3];

// SAFETY: forwards to `GlobalAllocator`, whose blocks may be freed on any thread.
unsafe impl<const ID: usize> NodeAllocator for Counting<ID> {
    unsafe fn allocate(layout: std::alloc::Layout) -> *mut u8 {
        NODE_ALLOCS[ID].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { GlobalAllocator::allocate(layout) }
    }

    unsafe fn deallocate(pointer: *mut u8, layout: std::alloc::Layout) {
        NODE_FREES[ID].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { GlobalAllocator::deallocate(pointer, layout) }
    }
}

fn node_counts(id: usize) -> (usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (NODE_ALLOCS[id].load(Relaxed), NODE_FREES[id].load(Relaxed))
}

/// A removed value without drop glue is kept as its own tombstone: the removal allocates
/// nothing, the key reads as absent everywhere, and the node is freed exactly once (when the
/// key is re-inserted, or with the table). A value with drop glue gets a tombstone node of
/// its own, so the removed value is freed after the grace period, not kept until then.
#[test]
fn a_removed_plain_value_is_its_own_tombstone() {
    let map: LockFree<u64, DefaultHasher, Counting<0>> = LockFree::default();
    map.insert(b"gone", 1, Meta::default());
    map.insert(b"back", 2, Meta::default());
    assert_eq!(node_counts(0), (2, 0));
    assert!(map.remove(b"gone").is_some());
    assert!(map.remove(b"back").is_some());
    assert_eq!(
        node_counts(0).0,
        2,
        "a removal of a plain value allocates no tombstone"
    );
    assert!(map.get(b"gone", |_| ()).is_none());
    assert!(
        map.remove(b"gone").is_none(),
        "a second removal finds nothing"
    );
    assert_eq!(map.len(), 0);
    let mut seen = 0;
    let mut cursor = 0;
    loop {
        cursor = map.scan(cursor, 10, |_, _| seen += 1);
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen, 0, "a scan skips a kept tombstone");
    // Re-inserting replaces the kept tombstone, which is then retired like a replaced node.
    map.insert(b"back", 3, Meta::default());
    assert_eq!(map.get(b"back", |entry| entry.value), Some(3));
    assert_eq!(map.len(), 1);
    flush_until(|| node_counts(0).1 >= 1);
    assert_eq!(node_counts(0), (3, 1));
    // Dropping the map frees the live node and the tombstone that was never revived.
    drop(map);
    assert_eq!(node_counts(0), (3, 3));

    let map: LockFree<Vec<u8>, DefaultHasher, Counting<1>> = LockFree::default();
    map.insert(b"gone", vec![1; 100], Meta::default());
    assert!(map.remove(b"gone").is_some());
    assert_eq!(
        node_counts(1).0,
        2,
        "a value with drop glue gets a tombstone node"
    );
    flush_until(|| node_counts(1).1 >= 1);
    assert_eq!(
        node_counts(1),
        (2, 1),
        "the removed value is freed after the grace period"
    );
    drop(map);
    assert_eq!(node_counts(1), (2, 2));
}

/// Removals that keep their nodes as tombstones, racing re-inserts of the same keys and the
/// migrations they cause, from several threads: every node allocated is freed exactly once
/// by the time the map is dropped (no double free, no leak; miri runs this too), and a key
/// never touched by the churn is always found.
#[test]
fn kept_tombstones_are_freed_once_under_churn() {
    let (rounds, threads) = if cfg!(miri) { (30, 2) } else { (20_000, 4) };
    let map: LockFree<u64, DefaultHasher, Counting<2>> = LockFree::default();
    map.insert(b"stable", 0, Meta::default());
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let map = &map;
            scope.spawn(move || {
                for round in 0..rounds {
                    let key = key((round * 7 + thread) % 50);
                    if round % 3 == 2 {
                        map.remove(&key);
                    } else {
                        map.insert(&key, round as u64, Meta::default());
                    }
                    assert_eq!(map.get(b"stable", |entry| entry.value), Some(0));
                }
            });
        }
    });
    drop(map);
    flush_until(|| {
        let (allocs, frees) = node_counts(2);
        allocs == frees
    });
    let (allocs, frees) = node_counts(2);
    assert_eq!(frees, allocs, "every node is freed exactly once");
}
