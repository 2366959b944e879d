//! Tests of the lock-free table's own mechanics (the generic suite in `engine/tests/` covers
//! the Engine contract on every back-end).

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
