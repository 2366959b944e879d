//! loom models of the lock-free table.
//!
//! Run with `RUSTFLAGS="--cfg loom --cfg crossbeam_loom" cargo test -p engine --test loom
//! --release` (`scripts/test.sh` does).
//!
//! ## Bounds
//!
//! Each model states its preemption bound (via [`model`]): 2 for the two-operation races on
//! one key, 1 for the models that race a whole migration or a clear (freezing and copying
//! every slot of the table). At bound 2 those take 5+ minutes each on our 2-core machines
//! (measured: `clear_races_insert` 299 s, `insert_races_a_migration` over 4 minutes), at bound
//! 1 about 10 s; the whole file runs in about a minute. `LOOM_MAX_PREEMPTIONS` overrides every
//! bound for a longer manual run. `--cfg crossbeam_loom` puts
//! crossbeam-epoch's own atomics under the model too, so pinning, retiring and collecting are
//! explored along with the table's compare-and-swaps.
//!
//! Under loom the table is tiny (4 slots, 2-slot migration chunks, a migration target sized for
//! the live keys plus one) and keys are single bytes whose hash is the byte itself, so each
//! model knows exactly which slots its keys use and when a migration starts.
//!
//! Use-after-free is not visible to loom (nodes are plain heap memory); the same table code
//! runs under miri in the unit and integration tests, which does catch it. Leaks and double
//! frees are checked here: every value counts its drops.

#![cfg(loom)]

use engine::lockfree::LockFree;
use engine::{Decision, Engine, Inserted, Meta};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use std::hash::{BuildHasher, Hasher};

/// Runs `body` under loom with at most `preemptions` preemptions per execution (unless
/// `LOOM_MAX_PREEMPTIONS` is set, which wins).
fn model(preemptions: usize, body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(body);
}

/// Hashes a key to its last byte, repeated in every byte of the hash so the fingerprint is
/// the byte too: key `[3]` lives at home slot 3.
#[derive(Clone, Copy, Default)]
struct ByteIsHash;

impl BuildHasher for ByteIsHash {
    type Hasher = LastByte;
    fn build_hasher(&self) -> LastByte {
        LastByte(0)
    }
}

struct LastByte(u8);

impl Hasher for LastByte {
    fn finish(&self) -> u64 {
        u64::from(self.0) * 0x0101_0101_0101_0101
    }
    fn write(&mut self, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            self.0 = last;
        }
    }
}

/// A value that counts how often it is dropped.
struct Tracked {
    number: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

type Map = LockFree<Tracked, ByteIsHash>;

fn new_map() -> Arc<Map> {
    Arc::new(LockFree::with_capacity_and_hasher(0, ByteIsHash))
}

/// Inserts `number` under `key`, with the number as the entry's flags too, so the metadata an
/// insert reports as replaced names the entry it replaced.
fn put(map: &Map, key: u8, number: u64, drops: &Arc<AtomicUsize>) -> Inserted {
    map.insert(
        &[key],
        Tracked {
            number,
            drops: drops.clone(),
        },
        meta_of(number),
    )
}

fn meta_of(number: u64) -> Meta {
    Meta {
        expire_at_ms: 0,
        flags: u32::try_from(number).unwrap(),
    }
}

fn read(map: &Map, key: u8) -> Option<(u64, u64)> {
    map.get(&[key], |entry| (entry.value.number, entry.version))
}

/// Adds one to the key's number (absent counts as 0) with a read-modify-write; returns how
/// many values the closure created (it may run more than once).
fn increment(map: &Map, key: u8, drops: &Arc<AtomicUsize>) -> usize {
    let mut created = 0;
    map.update(&[key], |current| {
        let number = current.map_or(0, |entry| entry.value.number) + 1;
        created += 1;
        let value = Tracked {
            number,
            drops: drops.clone(),
        };
        (
            Decision::Replace {
                value,
                meta: Meta::default(),
            },
            (),
        )
    });
    created
}

/// Spawns a model thread that hands its crossbeam-epoch garbage to the global queue before it
/// ends, so the main thread's flushes can reclaim it (a thread's local bag is otherwise only
/// handed over by its thread-local destructor, whose timing the model does not pin down).
fn spawn<T: Send + 'static>(
    body: impl FnOnce() -> T + Send + 'static,
) -> loom::thread::JoinHandle<T> {
    loom::thread::spawn(move || {
        let result = body();
        crossbeam_epoch::pin().flush();
        result
    })
}

/// Drops the map, flushes crossbeam-epoch and checks that no value was dropped twice and that
/// at least the values still in the map were dropped with it.
///
/// Why not "exactly once" here: in these models crossbeam-epoch's global collector does not
/// always get to advance the epoch after the model's threads exit (their thread-local handles
/// are not torn down the way std threads' are), so retired garbage can legitimately still be
/// pending when the model ends. Exactly-once reclamation is asserted outside loom instead, by
/// `lockfree::tests::values_are_dropped_exactly_once*` (std threads, real collector) and under
/// miri, which also catches use-after-free.
fn assert_all_dropped(map: Arc<Map>, drops: &Arc<AtomicUsize>, created: usize) {
    let before = drops.load(Ordering::Relaxed);
    let in_map = map.len();
    drop(map);
    assert!(
        drops.load(Ordering::Relaxed) >= before + in_map,
        "the map dropped its values"
    );
    for _ in 0..4 {
        crossbeam_epoch::pin().flush();
    }
    assert!(
        drops.load(Ordering::Relaxed) <= created,
        "a value was dropped twice"
    );
}

#[test]
fn get_races_insert() {
    model(2, || {
        let map = new_map();
        let drops = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (map, drops) = (map.clone(), drops.clone());
            spawn(move || put(&map, 1, 10, &drops))
        };
        // Absent, or the whole entry: never a torn or foreign one.
        let seen = read(&map, 1);
        let inserted = writer.join().unwrap();
        assert_eq!(inserted.replaced, None);
        let version = inserted.version;
        assert!(seen.is_none() || seen == Some((10, version)), "{seen:?}");
        assert_eq!(read(&map, 1), Some((10, version)));
        assert_all_dropped(map, &drops, 1);
    });
}

#[test]
fn insert_races_insert_on_one_key() {
    model(2, || {
        let map = new_map();
        let drops = Arc::new(AtomicUsize::new(0));
        let other = {
            let (map, drops) = (map.clone(), drops.clone());
            spawn(move || put(&map, 2, 20, &drops))
        };
        let mine = put(&map, 2, 10, &drops);
        let theirs = other.join().unwrap();
        // The first insert found the key absent; the second replaced exactly the first.
        let (first, second, first_number) = if mine.version < theirs.version {
            (mine, theirs, 10)
        } else {
            (theirs, mine, 20)
        };
        assert_eq!(first.replaced, None);
        assert_eq!(second.replaced, Some(meta_of(first_number)));
        let (mine, theirs) = (mine.version, theirs.version);
        assert_ne!(mine, theirs);
        // The later version wins, and there is exactly one copy of the key.
        let expected = if mine > theirs {
            (10, mine)
        } else {
            (20, theirs)
        };
        assert_eq!(read(&map, 2), Some(expected));
        assert_eq!(map.len(), 1);
        assert_all_dropped(map, &drops, 2);
    });
}

#[test]
fn remove_races_get() {
    model(2, || {
        let map = new_map();
        let drops = Arc::new(AtomicUsize::new(0));
        let version = put(&map, 3, 30, &drops).version;
        let remover = {
            let map = map.clone();
            spawn(move || map.remove(&[3]))
        };
        let seen = read(&map, 3);
        let removal = remover.join().unwrap().expect("the key was present");
        assert!(seen.is_none() || seen == Some((30, version)), "{seen:?}");
        assert!(removal > version);
        assert_eq!(read(&map, 3), None);
        assert_eq!(map.len(), 0);
        assert_all_dropped(map, &drops, 1);
    });
}

#[test]
fn increments_race_without_losing_one() {
    model(2, || {
        let map = new_map();
        let drops = Arc::new(AtomicUsize::new(0));
        let other = {
            let (map, drops) = (map.clone(), drops.clone());
            spawn(move || increment(&map, 1, &drops))
        };
        let mine = increment(&map, 1, &drops);
        let theirs = other.join().unwrap();
        assert_eq!(read(&map, 1).map(|(number, _)| number), Some(2));
        assert_all_dropped(map, &drops, mine + theirs);
    });
}

/// Keys 0, 1 and 2 fill three of the four slots; inserting key 4 (home 0) probes to slot 3,
/// past the limit of a 75%-full table, and starts (and, needing room, finishes) a migration,
/// while the other thread updates, removes, reads or inserts. `other` returns how many values
/// it created.
fn racing_a_migration(other: fn(&Map, &Arc<AtomicUsize>) -> usize) {
    model(1, move || {
        let map = new_map();
        let drops = Arc::new(AtomicUsize::new(0));
        for key in 0..3 {
            put(&map, key, u64::from(key), &drops);
        }
        let capacity = map.capacity();
        let racer = {
            let (map, drops) = (map.clone(), drops.clone());
            spawn(move || other(&map, &drops))
        };
        put(&map, 4, 4, &drops);
        let created = 4 + racer.join().unwrap();
        assert!(map.capacity() > capacity, "the insert migrated the table");
        assert_eq!(read(&map, 0).map(|(n, _)| n), Some(0));
        assert_eq!(read(&map, 4).map(|(n, _)| n), Some(4));
        assert_all_dropped(map, &drops, created);
    });
}

#[test]
fn update_races_a_migration() {
    racing_a_migration(|map, drops| {
        let created = increment(map, 1, drops);
        assert_eq!(read(map, 1).map(|(n, _)| n), Some(2));
        created
    });
}

#[test]
fn remove_races_a_migration() {
    racing_a_migration(|map, _| {
        assert!(map.remove(&[2]).is_some());
        assert_eq!(read(map, 2), None);
        0
    });
}

#[test]
fn get_races_a_migration() {
    racing_a_migration(|map, _| {
        assert_eq!(read(map, 1).map(|(n, _)| n), Some(1));
        assert_eq!(read(map, 2).map(|(n, _)| n), Some(2));
        0
    });
}

#[test]
fn insert_races_a_migration() {
    racing_a_migration(|map, drops| {
        put(map, 5, 5, drops);
        assert_eq!(read(map, 5).map(|(n, _)| n), Some(5));
        1
    });
}

#[test]
fn replacing_insert_races_a_migration() {
    racing_a_migration(|map, drops| {
        // Whether key 1 is still in the old table, frozen, or already copied, the insert
        // replaces that entry and reports its metadata.
        let inserted = put(map, 1, 11, drops);
        assert_eq!(inserted.replaced, Some(meta_of(1)));
        assert_eq!(read(map, 1).map(|(n, _)| n), Some(11));
        1
    });
}

#[test]
fn clear_races_insert() {
    model(1, || {
        let map = new_map();
        let drops = Arc::new(AtomicUsize::new(0));
        put(&map, 0, 0, &drops);
        let writer = {
            let (map, drops) = (map.clone(), drops.clone());
            spawn(move || put(&map, 1, 1, &drops))
        };
        map.clear();
        writer.join().unwrap();
        // The key present before the clear is gone; the racing insert may or may not survive.
        assert_eq!(read(&map, 0), None);
        assert_eq!(map.len(), usize::from(read(&map, 1).is_some()));
        assert_all_dropped(map, &drops, 2);
    });
}
