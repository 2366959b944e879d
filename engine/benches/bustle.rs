//! # The conc-map-bench harness: bustle's mixes, our back-ends through the `Engine` trait
//!
//! xacrimon/conc-map-bench measures Rust's concurrent maps with jonhoo's `bustle` (a port of
//! libcuckoo's universal benchmark) and publishes tables that are the field's common reference.
//! This benchmark runs the real `bustle` crate (0.5.1, pinned in the workspace) with
//! conc-map-bench's settings, so our figures can be set beside those tables, and beside the
//! same anchors measured in the same run on the same machine:
//!
//! | workload | read | insert | remove | update | prefill |
//! |---|---|---|---|---|---|
//! | `ReadHeavy` | 98 | 1 | 1 | 0 | 75% |
//! | `Exchange` | 10 | 40 | 40 | 10 | 75% |
//! | `RapidGrow` | 5 | 80 | 5 | 10 | none |
//! | `ReadOnly` | 100 | 0 | 0 | 0 | 75% |
//!
//! The first three are conc-map-bench's `src/workloads.rs`; `ReadOnly` is ours (the cache's
//! best case). Every map is created `with_capacity(2^23)` (`BUSTLE_CAPACITY_LOG2`; conc-map-bench
//! uses 2^25, which needs more memory than our shared machines spare), and one run does
//! `2^23 * operations` operations (conc-map-bench's default multiple is 1). bustle times one
//! run of the whole mix: it generates the keys (random `u64`s, distinct), prefills, then
//! releases the threads at a barrier and stops the clock when the last one finishes. Its
//! asserts check every answer (an insert of a new key must say "new", a read of a live key must
//! find it), so a map that loses keys fails instead of producing a fast number.
//!
//! ## Maps
//!
//! * Ours, through [`Engine`], as the server calls them: a `u64` key is passed as its 8
//!   little-endian bytes (`&[u8]`), values are `u64`, and every write draws a version and
//!   stores the entry's metadata and access clock. `lockfree` (its nodes from mimalloc, the
//!   table's default node allocator, see `engine::lockfree::NodeAllocator`),
//!   `lockfree-system` (the same table with its nodes from the global allocator, the system
//!   allocator here, as every other map's allocations: what the allocator choice is worth),
//!   and `engine-dashmap` (our adapter over dashmap, so the trait's own cost can be told from
//!   the table's).
//! * Anchors, as conc-map-bench runs them: native `u64` keys and `u64` values. `dashmap`
//!   6.2.1, `papaya` 0.2.5 (a guard pinned per operation, as conc-map-bench does, default
//!   collector), `scc` 3.8.8 (`read_sync` for reads, `update_sync` for updates), `hashbrown`
//!   with no lock at all at one thread (the one-core limit), and `hashbrown-rwlock` (behind a
//!   std `RwLock`, conc-map-bench's `RwLock<StdHashMap>`) at every thread count.
//! * Every map hashes with `foldhash::fast::RandomState`.
//!
//! ## Running it
//!
//! `scripts/bench-engine.sh --bustle` runs it in alternating rounds and renders the page. By
//! hand, one measurement per process (so no map inherits another's heap):
//!
//! ```text
//! BUSTLE_MAP=lockfree BUSTLE_WORKLOAD=Exchange BUSTLE_THREADS=2 \
//!     cargo bench -p engine --bench bustle
//! ```
//!
//! prints one line, `bustle map=lockfree workload=Exchange threads=2 capacity_log2=23
//! operations=8388608 seconds=... mops=...`. Without `BUSTLE_MAP` it runs every map, workload
//! and thread count (1 and 2, or `BUSTLE_THREADS`) once, each in a child process. Run as a test
//! (`cargo test --benches`), it runs every case in-process on a 2^12 table.

use bustle::{Collection, CollectionHandle, Mix, Workload};
use engine::dashmap::DashMapEngine;
use engine::lockfree::{DefaultHasher, GlobalAllocator};
use engine::{Decision, Engine, LockFree, Meta};
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex, RwLock};

/// The hasher of every map.
type FoldHash = foldhash::fast::RandomState;

/// The table size of a real run. conc-map-bench uses 2^25; 2^23 keeps the largest case (our
/// maps' nodes, 6.3M prefilled keys, plus bustle's key arrays) under 2 GiB on machines shared by
/// several builds.
const CAPACITY_LOG2_DEFAULT: u8 = 23;

/// The table size when run as a test.
const CAPACITY_LOG2_SMOKE: u8 = 12;

/// Operations per run as a multiple of the capacity: conc-map-bench's default.
const OPERATIONS_DEFAULT: f64 = 1.0;

/// The maps, in the order the page lists them.
const MAPS: [&str; 8] = [
    "lockfree",
    "lockfree-system",
    "engine-dashmap",
    "dashmap",
    "papaya",
    "scc",
    "hashbrown",
    "hashbrown-rwlock",
];

/// The workloads, in the order the page lists them.
const WORKLOADS: [&str; 4] = ["ReadHeavy", "ReadOnly", "Exchange", "RapidGrow"];

/// The thread counts of a full run: one core and both cores of our machines.
const THREADS_DEFAULT: [usize; 2] = [1, 2];

// ----------------------------------------------------------------------------------------------
// Workloads
// ----------------------------------------------------------------------------------------------

/// The mix and prefill of a workload (conc-map-bench's `src/workloads.rs`, plus `ReadOnly`).
fn mix_of(workload: &str) -> (Mix, f64) {
    let mix = |read, insert, remove, update| Mix {
        read,
        insert,
        remove,
        update,
        upsert: 0,
    };
    match workload {
        "ReadHeavy" => (mix(98, 1, 1, 0), 0.75),
        "ReadOnly" => (mix(100, 0, 0, 0), 0.75),
        "Exchange" => (mix(10, 40, 40, 10), 0.75),
        "RapidGrow" => (mix(5, 80, 5, 10), 0.0),
        other => panic!("BUSTLE_WORKLOAD={other}: not one of {WORKLOADS:?}"),
    }
}

// ----------------------------------------------------------------------------------------------
// Our back-ends, through the trait
// ----------------------------------------------------------------------------------------------

/// One of our back-ends through [`Engine`], keyed by the 8 bytes of a `u64`.
struct Ours<E>(Arc<E>);

impl<E: Engine<Value = u64>> Collection for Ours<E> {
    type Handle = Self;

    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(E::with_capacity(capacity)))
    }

    fn pin(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<E: Engine<Value = u64>> CollectionHandle for Ours<E> {
    type Key = u64;

    fn get(&mut self, key: &u64) -> bool {
        self.0.get(&key.to_le_bytes(), |_| ()).is_some()
    }

    fn insert(&mut self, key: &u64) -> bool {
        self.0
            .insert(&key.to_le_bytes(), 0, Meta::default())
            .replaced
            .is_none()
    }

    fn remove(&mut self, key: &u64) -> bool {
        self.0.remove(&key.to_le_bytes()).is_some()
    }

    fn update(&mut self, key: &u64) -> bool {
        self.0
            .update(&key.to_le_bytes(), |current| match current {
                Some(entry) => (
                    Decision::Replace {
                        value: entry.value + 1,
                        meta: entry.meta,
                    },
                    true,
                ),
                None => (Decision::Keep, false),
            })
            .output
    }
}

// ----------------------------------------------------------------------------------------------
// The anchors, as conc-map-bench runs them
// ----------------------------------------------------------------------------------------------

struct DashMapAnchor(Arc<dashmap::DashMap<u64, u64, FoldHash>>);

impl Collection for DashMapAnchor {
    type Handle = Self;

    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(dashmap::DashMap::with_capacity_and_hasher(
            capacity,
            FoldHash::default(),
        )))
    }

    fn pin(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl CollectionHandle for DashMapAnchor {
    type Key = u64;

    fn get(&mut self, key: &u64) -> bool {
        self.0.get(key).is_some()
    }

    fn insert(&mut self, key: &u64) -> bool {
        self.0.insert(*key, 0).is_none()
    }

    fn remove(&mut self, key: &u64) -> bool {
        self.0.remove(key).is_some()
    }

    fn update(&mut self, key: &u64) -> bool {
        self.0.get_mut(key).map(|mut value| *value += 1).is_some()
    }
}

struct PapayaAnchor(Arc<papaya::HashMap<u64, u64, FoldHash>>);

impl Collection for PapayaAnchor {
    type Handle = Self;

    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(
            papaya::HashMap::builder()
                .capacity(capacity)
                .hasher(FoldHash::default())
                .build(),
        ))
    }

    fn pin(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl CollectionHandle for PapayaAnchor {
    type Key = u64;

    fn get(&mut self, key: &u64) -> bool {
        self.0.pin().get(key).is_some()
    }

    fn insert(&mut self, key: &u64) -> bool {
        self.0.pin().insert(*key, 0).is_none()
    }

    fn remove(&mut self, key: &u64) -> bool {
        self.0.pin().remove(key).is_some()
    }

    fn update(&mut self, key: &u64) -> bool {
        self.0.pin().update(*key, |value| value + 1).is_some()
    }
}

struct SccAnchor(Arc<scc::HashMap<u64, u64, FoldHash>>);

impl Collection for SccAnchor {
    type Handle = Self;

    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(scc::HashMap::with_capacity_and_hasher(
            capacity,
            FoldHash::default(),
        )))
    }

    fn pin(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl CollectionHandle for SccAnchor {
    type Key = u64;

    fn get(&mut self, key: &u64) -> bool {
        self.0.read_sync(key, |_, _| ()).is_some()
    }

    fn insert(&mut self, key: &u64) -> bool {
        self.0.insert_sync(*key, 0).is_ok()
    }

    fn remove(&mut self, key: &u64) -> bool {
        self.0.remove_sync(key).is_some()
    }

    fn update(&mut self, key: &u64) -> bool {
        self.0.update_sync(key, |_, value| *value += 1).is_some()
    }
}

type Hashbrown = hashbrown::HashMap<u64, u64, FoldHash>;

/// hashbrown with no lock: one thread's handle takes the table out of its slot and puts it back
/// when dropped, so the hot loop touches no synchronisation at all. A second handle alive at
/// the same time would find the slot empty: this anchor runs at one thread only.
struct HashbrownAnchor(Arc<Mutex<Option<Hashbrown>>>);

/// A thread's exclusive hold on [`HashbrownAnchor`]'s table.
struct HashbrownHandle {
    slot: Arc<Mutex<Option<Hashbrown>>>,
    map: Option<Hashbrown>,
}

impl Collection for HashbrownAnchor {
    type Handle = HashbrownHandle;

    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(Mutex::new(Some(
            Hashbrown::with_capacity_and_hasher(capacity, FoldHash::default()),
        ))))
    }

    fn pin(&self) -> HashbrownHandle {
        let map = self.0.lock().expect("not poisoned").take();
        assert!(
            map.is_some(),
            "the unlocked hashbrown anchor runs at one thread only"
        );
        HashbrownHandle {
            slot: Arc::clone(&self.0),
            map,
        }
    }
}

impl Drop for HashbrownHandle {
    fn drop(&mut self) {
        *self.slot.lock().expect("not poisoned") = self.map.take();
    }
}

impl HashbrownHandle {
    fn map(&mut self) -> &mut Hashbrown {
        self.map.as_mut().expect("held from pin to drop")
    }
}

impl CollectionHandle for HashbrownHandle {
    type Key = u64;

    fn get(&mut self, key: &u64) -> bool {
        self.map().get(key).is_some()
    }

    fn insert(&mut self, key: &u64) -> bool {
        self.map().insert(*key, 0).is_none()
    }

    fn remove(&mut self, key: &u64) -> bool {
        self.map().remove(key).is_some()
    }

    fn update(&mut self, key: &u64) -> bool {
        self.map().get_mut(key).map(|value| *value += 1).is_some()
    }
}

struct HashbrownRwLock(Arc<RwLock<Hashbrown>>);

impl Collection for HashbrownRwLock {
    type Handle = Self;

    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(RwLock::new(Hashbrown::with_capacity_and_hasher(
            capacity,
            FoldHash::default(),
        ))))
    }

    fn pin(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl CollectionHandle for HashbrownRwLock {
    type Key = u64;

    fn get(&mut self, key: &u64) -> bool {
        self.0.read().expect("not poisoned").get(key).is_some()
    }

    fn insert(&mut self, key: &u64) -> bool {
        self.0
            .write()
            .expect("not poisoned")
            .insert(*key, 0)
            .is_none()
    }

    fn remove(&mut self, key: &u64) -> bool {
        self.0.write().expect("not poisoned").remove(key).is_some()
    }

    fn update(&mut self, key: &u64) -> bool {
        self.0
            .write()
            .expect("not poisoned")
            .get_mut(key)
            .map(|value| *value += 1)
            .is_some()
    }
}

// ----------------------------------------------------------------------------------------------
// Running
// ----------------------------------------------------------------------------------------------

/// Whether `map` runs at `threads` threads.
fn runs_at(map: &str, threads: usize) -> bool {
    map != "hashbrown" || threads == 1
}

/// One bustle run; returns the seconds the mix took.
fn run<C>(workload: &str, threads: usize, capacity_log2: u8, operations: f64) -> (u64, f64)
where
    C: Collection,
    <C::Handle as CollectionHandle>::Key: Send + std::fmt::Debug,
{
    let (mix, prefill) = mix_of(workload);
    let measurement = Workload::new(threads, mix)
        .initial_capacity_log2(capacity_log2)
        .prefill_fraction(prefill)
        .operations(operations)
        .run_silently::<C>();
    (measurement.total_ops, measurement.spent.as_secs_f64())
}

fn run_by_name(map: &str, workload: &str, threads: usize, capacity_log2: u8, operations: f64) {
    let (total, seconds) = match map {
        "lockfree" => run::<Ours<LockFree<u64>>>(workload, threads, capacity_log2, operations),
        "lockfree-system" => run::<Ours<LockFree<u64, DefaultHasher, GlobalAllocator>>>(
            workload,
            threads,
            capacity_log2,
            operations,
        ),
        "engine-dashmap" => {
            run::<Ours<DashMapEngine<u64>>>(workload, threads, capacity_log2, operations)
        }
        "dashmap" => run::<DashMapAnchor>(workload, threads, capacity_log2, operations),
        "papaya" => run::<PapayaAnchor>(workload, threads, capacity_log2, operations),
        "scc" => run::<SccAnchor>(workload, threads, capacity_log2, operations),
        "hashbrown" => run::<HashbrownAnchor>(workload, threads, capacity_log2, operations),
        "hashbrown-rwlock" => run::<HashbrownRwLock>(workload, threads, capacity_log2, operations),
        other => panic!("BUSTLE_MAP={other}: not one of {MAPS:?}"),
    };
    println!(
        "bustle map={map} workload={workload} threads={threads} capacity_log2={capacity_log2} \
         operations={total} seconds={seconds:.4} mops={:.3}",
        total as f64 / seconds / 1e6
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a valid value")),
        Err(_) => default,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // cargo passes `--bench` to a benchmark; without it we are being run as a test.
    let test_mode = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
    let capacity_log2 = env_or(
        "BUSTLE_CAPACITY_LOG2",
        if test_mode {
            CAPACITY_LOG2_SMOKE
        } else {
            CAPACITY_LOG2_DEFAULT
        },
    );
    let operations = env_or("BUSTLE_OPERATIONS", OPERATIONS_DEFAULT);
    let thread_counts: Vec<usize> = match std::env::var("BUSTLE_THREADS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("BUSTLE_THREADS: integers"))
            .collect(),
        Err(_) => THREADS_DEFAULT.to_vec(),
    };
    let only = |name: &str, all: &[&'static str]| -> Vec<String> {
        match std::env::var(name) {
            Ok(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
            Err(_) => all.iter().map(|s| s.to_string()).collect(),
        }
    };
    let maps = only("BUSTLE_MAP", &MAPS);
    let workloads = only("BUSTLE_WORKLOAD", &WORKLOADS);

    // One case: measure it here. Several: one child process per case, so no map runs on a
    // heap another map grew (as a test, everything runs here: the tables are tiny).
    let single = maps.len() == 1 && workloads.len() == 1 && thread_counts.len() == 1;
    let executable = std::env::current_exe().expect("current_exe");
    let mut failed = Vec::new();
    for workload in &workloads {
        for &threads in &thread_counts {
            for map in maps.iter().filter(|map| runs_at(map, threads)) {
                if single || test_mode {
                    run_by_name(map, workload, threads, capacity_log2, operations);
                    continue;
                }
                let status = Command::new(&executable)
                    .args(&args[1..])
                    .env("BUSTLE_MAP", map)
                    .env("BUSTLE_WORKLOAD", workload)
                    .env("BUSTLE_THREADS", threads.to_string())
                    .env("BUSTLE_CAPACITY_LOG2", capacity_log2.to_string())
                    .env("BUSTLE_OPERATIONS", operations.to_string())
                    .status()
                    .expect("spawn one bustle case");
                if !status.success() {
                    println!(
                        "bustle map={map} workload={workload} threads={threads} error=\"{status}\""
                    );
                    failed.push(format!("{map}/{workload}/{threads}"));
                }
            }
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("bustle: failed cases {failed:?}");
        ExitCode::FAILURE
    }
}
