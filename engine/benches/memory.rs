//! # Memory per entry of every back-end, next to the anchors
//!
//! Fills one map with 1M entries of one of two shapes:
//!
//! * shape `bytes`: 16-byte keys and 32-byte values (`Box<[u8]>`: a separate allocation per
//!   value, as the server stored every string until 7e736ca; its keyspace now keeps strings of
//!   up to 38 bytes inline in the entry, see `keyspace::Str`);
//! * shape `u64`: `u64` keys and values, conc-map-bench's entries and the setting of issue
//!   16's memory figures (the anchors store native `u64`s; ours take the key's 8 bytes through
//!   the trait, as the bustle harness calls them).
//!
//! and reports, per entry:
//!
//! * `alloc_bytes_per_entry`: live heap bytes after the fill minus before, counted by a global
//!   allocator that wraps the system `malloc` (what the program asked for, without malloc's
//!   own headers and fragmentation);
//! * `rss_bytes_per_entry`: the growth of the resident set (`VmRSS` in `/proc/self/status`,
//!   the same figure as `/proc/self/statm`'s second field), which includes them;
//! * `allocs_per_entry`: heap allocations during the fill, per entry;
//! * `alloc_bytes_after_drop`: live bytes left (relative to before the fill) once the map is
//!   dropped and epoch garbage flushed; anything far from zero is a leak or unreclaimed garbage.
//!
//! Every map grows from empty (`new()`), as the keyspace of a server does, so the figures
//! include the slack of the last doubling: 1M entries sit in tables sized for 2^20 or 2^21.
//! `keyspace-lockfree` is the server's keyspace over `lockfree`, filled with `SET`s: what the
//! server really stores per key (a short value inline in the entry, the keyspace's
//! bookkeeping), so its figures can be set beside the server's RSS per key on the server page.
//!
//! Our back-ends also keep a version, metadata and an access clock per entry (the `Engine`
//! contract); the anchors store only the key and the value. `dashmap` is our trait adapter
//! over dashmap, `dashmap-native` dashmap itself, so the two differ by what the trait's entry
//! costs.
//!
//! RSS never shrinks reliably once the allocator has grown the heap, so each map is measured in
//! a fresh process: without `ENGINE_MEMORY_MAP` the binary runs itself once per shape and map
//! with `ENGINE_MEMORY_SHAPE` and `ENGINE_MEMORY_MAP` set. Each child prints one line, e.g.
//!
//! ```text
//! memory shape=u64 map=dashmap entries=1000000 alloc_bytes_per_entry=... rss_bytes_per_entry=...
//! ```
//!
//! `ENGINE_MEMORY_SHAPE` alone runs one shape only, `ENGINE_BENCH_SKIP` (comma-separated
//! names) leaves maps out, `ENGINE_MEMORY_ENTRIES` changes the count; run as a test (no
//! `--bench`) it fills 10,000 entries.

use engine::dashmap::DashMapEngine;
use engine::flurry::FlurryEngine;
use engine::lockfree::GlobalAllocator;
use engine::sharded::Sharded;
use engine::{Engine, LockFree, Meta};
use keyspace::{Keyspace, SetOptions, Str, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Entries per map in a real run: the size of the reference figures in BENCHMARKS.md.
const ENTRIES_DEFAULT: usize = 1_000_000;

/// Entries per map when run as a test.
const ENTRIES_SMOKE: usize = 10_000;

/// Key and value sizes in bytes.
const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 32;

/// Upper bound on epoch flushes while waiting for deferred frees to run (each flush advances
/// crossbeam-epoch's global epoch at most once and frees what is two epochs old).
const FLUSHES_MAX: usize = 256;

/// The maps, in the order the pages list them.
const MAPS: [&str; 9] = [
    "sharded",
    "dashmap",
    "flurry",
    "lockfree",
    "keyspace-lockfree",
    "dashmap-native",
    "papaya",
    "scc",
    "hashbrown",
];

/// The maps measured in the `bytes` shape only: the keyspace stores strings, not `u64`s.
const BYTES_ONLY: [&str; 1] = ["keyspace-lockfree"];

/// The shapes, in the order they are measured.
const SHAPES: [&str; 2] = ["bytes", "u64"];

type FoldHash = foldhash::fast::RandomState;

// ----------------------------------------------------------------------------------------------
// The counting allocator
// ----------------------------------------------------------------------------------------------

/// The system allocator, counting live bytes and allocations.
struct Counting;

/// Bytes currently allocated through [`Counting`].
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Allocations made through [`Counting`] (reallocations not included).
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; the counters are statistics and never affect an allocation.
// Relaxed: the counters are read only on the thread that filled the map after it joined any
// helper threads, and they publish no other memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (that is, `System`) returned.
        unsafe { System.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a block `System` returned, its layout and a valid size.
        let new_pointer = unsafe { System.realloc(pointer, layout, new_size) };
        if !new_pointer.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new_pointer
    }
}

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The resident set size in bytes (`VmRSS`, reported by the kernel in KiB).
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Runs crossbeam-epoch's deferred frees until the live byte count stops falling, so garbage
/// retired by the lock-free table is not counted as part of it.
fn flush_epoch_garbage() {
    let mut last = live_bytes();
    let mut unchanged = 0;
    for _ in 0..FLUSHES_MAX {
        crossbeam_epoch::pin().flush();
        let now = live_bytes();
        unchanged = if now == last { unchanged + 1 } else { 0 };
        last = now;
        if unchanged >= 4 {
            break;
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The maps
// ----------------------------------------------------------------------------------------------

/// What one entry holds: the key and value types of the anchors (ours always take the key as
/// bytes, as the server does) and how an entry is made from the fill's key bytes and index.
trait Shape: 'static {
    /// `bytes` or `u64`, as printed and as `ENGINE_MEMORY_SHAPE` names it.
    const NAME: &'static str;
    /// Key length in bytes (the first `KEY_BYTES` of each key of `key()` are used).
    const KEY_BYTES: usize;
    type Key: std::hash::Hash + Eq + Send + Sync + 'static;
    type Value: Clone + Send + Sync + 'static;
    fn key(bytes: &[u8]) -> Self::Key;
    fn value(index: u64) -> Self::Value;
}

/// 16-byte keys and 32-byte `Box<[u8]>` values: a separate allocation per value, as the server
/// stored every string until 7e736ca.
struct Bytes;

impl Shape for Bytes {
    const NAME: &'static str = "bytes";
    const KEY_BYTES: usize = KEY_BYTES;
    type Key = Box<[u8]>;
    type Value = Box<[u8]>;
    fn key(bytes: &[u8]) -> Box<[u8]> {
        Box::from(bytes)
    }
    fn value(index: u64) -> Box<[u8]> {
        Box::new([index as u8; VALUE_BYTES])
    }
}

/// `u64` keys and values, as conc-map-bench (and issue 16's memory figures) have them: the
/// anchors store native `u64`s, ours the key's 8 bytes through the trait.
struct U64;

impl Shape for U64 {
    const NAME: &'static str = "u64";
    const KEY_BYTES: usize = 8;
    type Key = u64;
    type Value = u64;
    fn key(bytes: &[u8]) -> u64 {
        u64::from_le_bytes(bytes.try_into().expect("an 8-byte key"))
    }
    fn value(index: u64) -> u64 {
        index
    }
}

/// A map being filled: the key as bytes (each map makes its own copy), the entry's index.
trait MemoryMap {
    fn new() -> Self;
    fn insert(&mut self, key: &[u8], index: u64);
    fn len(&self) -> usize;
}

/// One of our back-ends through the `Engine` trait.
struct Ours<E, S>(E, std::marker::PhantomData<S>);

impl<S: Shape, E: Engine<Value = S::Value>> MemoryMap for Ours<E, S> {
    fn new() -> Self {
        Self(E::new(), std::marker::PhantomData)
    }
    fn insert(&mut self, key: &[u8], index: u64) {
        self.0.insert(key, S::value(index), Meta::default());
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The server's keyspace over `lockfree`: what a `SET` of a short string really stores (the
/// value inline in the entry, see `keyspace::Str`), with the keyspace's own bookkeeping.
struct KeyspaceOver<E: Engine<Value = Value>>(Keyspace<E>);

impl<E: Engine<Value = Value>> MemoryMap for KeyspaceOver<E> {
    fn new() -> Self {
        Self(Keyspace::new(E::new()))
    }
    fn insert(&mut self, key: &[u8], index: u64) {
        self.0
            .shared()
            .set(
                key,
                Str::copy_from(&Bytes::value(index)),
                SetOptions::default(),
            )
            .expect("a SET of a string cannot fail");
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// dashmap itself, as conc-map-bench runs it (our `dashmap` is the trait's adapter over it).
struct DashNative<S: Shape>(dashmap::DashMap<S::Key, S::Value, FoldHash>);

impl<S: Shape> MemoryMap for DashNative<S> {
    fn new() -> Self {
        Self(dashmap::DashMap::with_hasher(FoldHash::default()))
    }
    fn insert(&mut self, key: &[u8], index: u64) {
        self.0.insert(S::key(key), S::value(index));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct Papaya<S: Shape>(papaya::HashMap<S::Key, S::Value, FoldHash>);

impl<S: Shape> MemoryMap for Papaya<S> {
    fn new() -> Self {
        Self(papaya::HashMap::with_hasher(FoldHash::default()))
    }
    fn insert(&mut self, key: &[u8], index: u64) {
        self.0.pin().insert(S::key(key), S::value(index));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct Scc<S: Shape>(scc::HashMap<S::Key, S::Value, FoldHash>);

impl<S: Shape> MemoryMap for Scc<S> {
    fn new() -> Self {
        Self(scc::HashMap::with_hasher(FoldHash::default()))
    }
    fn insert(&mut self, key: &[u8], index: u64) {
        self.0.upsert_sync(S::key(key), S::value(index));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct Hashbrown<S: Shape>(hashbrown::HashMap<S::Key, S::Value, FoldHash>);

impl<S: Shape> MemoryMap for Hashbrown<S> {
    fn new() -> Self {
        Self(hashbrown::HashMap::with_hasher(FoldHash::default()))
    }
    fn insert(&mut self, key: &[u8], index: u64) {
        self.0.insert(S::key(key), S::value(index));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// ----------------------------------------------------------------------------------------------
// Measuring
// ----------------------------------------------------------------------------------------------

/// A distinct 16-byte key per index (SplitMix64's output function is a bijection, so the
/// first 8 bytes alone are distinct too: the `u64` shape's keys).
fn key(index: u64) -> [u8; KEY_BYTES] {
    let mix = |x: u64| {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut key = [0; KEY_BYTES];
    key[..8].copy_from_slice(&mix(index).to_le_bytes());
    key[8..].copy_from_slice(&mix(!index).to_le_bytes());
    key
}

/// Fills one map and prints its line.
fn measure<S: Shape, M: MemoryMap>(name: &str, entries: usize) {
    // The keys exist before the baseline is taken, so only the map's own copies count.
    let keys: Vec<[u8; KEY_BYTES]> = (0..entries as u64).map(key).collect();
    flush_epoch_garbage();
    let live_before = live_bytes();
    let rss_before = rss_bytes();
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);

    let mut map = M::new();
    for (index, key) in keys.iter().enumerate() {
        map.insert(&key[..S::KEY_BYTES], index as u64);
    }
    flush_epoch_garbage();
    let live_after = live_bytes();
    let rss_after = rss_bytes();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    assert_eq!(
        map.len(),
        entries,
        "{name}: len() after inserting {entries} distinct keys"
    );

    drop(map);
    flush_epoch_garbage();
    let left_after_drop = live_bytes() as isize - live_before as isize;

    let per_entry = |bytes: isize| bytes as f64 / entries as f64;
    println!(
        "memory shape={} map={name} entries={entries} alloc_bytes_per_entry={:.1} \
         rss_bytes_per_entry={:.1} allocs_per_entry={:.2} alloc_bytes_after_drop={left_after_drop}",
        S::NAME,
        per_entry(live_after as isize - live_before as isize),
        per_entry(rss_after as isize - rss_before as isize),
        allocations as f64 / entries as f64,
    );
    drop(keys);
}

/// The lock-free table with its nodes from the global allocator, which here is [`Counting`]:
/// with its default node allocator (mimalloc, see `engine::lockfree::NodeAllocator`) the
/// nodes would bypass the count. The bytes asked for are the same either way; the RSS figure
/// is then glibc's, as for every other map here.
type LockFreeCounted<V> = LockFree<V, engine::lockfree::DefaultHasher, GlobalAllocator>;

/// The maps both shapes have.
fn measure_common<S: Shape>(name: &str, entries: usize) -> bool {
    match name {
        "sharded" => measure::<S, Ours<Sharded<S::Value>, S>>(name, entries),
        "dashmap" => measure::<S, Ours<DashMapEngine<S::Value>, S>>(name, entries),
        "flurry" => measure::<S, Ours<FlurryEngine<S::Value>, S>>(name, entries),
        "lockfree" => measure::<S, Ours<LockFreeCounted<S::Value>, S>>(name, entries),
        "dashmap-native" => measure::<S, DashNative<S>>(name, entries),
        "papaya" => measure::<S, Papaya<S>>(name, entries),
        "scc" => measure::<S, Scc<S>>(name, entries),
        "hashbrown" => measure::<S, Hashbrown<S>>(name, entries),
        _ => return false,
    }
    true
}

fn measure_by_name(shape: &str, name: &str, entries: usize) {
    let known = match shape {
        "bytes" if name == "keyspace-lockfree" => {
            measure::<Bytes, KeyspaceOver<LockFreeCounted<Value>>>(name, entries);
            true
        }
        "bytes" => measure_common::<Bytes>(name, entries),
        "u64" => measure_common::<U64>(name, entries),
        other => panic!("ENGINE_MEMORY_SHAPE={other}: not bytes or u64"),
    };
    assert!(
        known,
        "ENGINE_MEMORY_MAP={name}: not a map of shape {shape}"
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // cargo passes `--bench` to a benchmark; without it we are being run as a test.
    let test_mode = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
    let entries = match std::env::var("ENGINE_MEMORY_ENTRIES") {
        Ok(value) => value
            .trim()
            .parse()
            .expect("ENGINE_MEMORY_ENTRIES: an integer"),
        Err(_) if test_mode => ENTRIES_SMOKE,
        Err(_) => ENTRIES_DEFAULT,
    };
    assert!(entries > 0, "ENGINE_MEMORY_ENTRIES must be positive");

    let shape = std::env::var("ENGINE_MEMORY_SHAPE").ok();
    if let Ok(name) = std::env::var("ENGINE_MEMORY_MAP") {
        measure_by_name(shape.as_deref().unwrap_or("bytes"), &name, entries);
        return ExitCode::SUCCESS;
    }

    // One fresh process per map and shape, so no map's heap growth shows up in another's RSS.
    let skip = std::env::var("ENGINE_BENCH_SKIP").unwrap_or_default();
    let skipped: Vec<&str> = skip.split(',').map(str::trim).collect();
    let executable = std::env::current_exe().expect("current_exe");
    let mut failed = Vec::new();
    for shape_name in SHAPES {
        if shape.as_deref().is_some_and(|only| only != shape_name) {
            continue;
        }
        let measured = |name: &str| {
            !skipped.contains(&name) && (shape_name == "bytes" || !BYTES_ONLY.contains(&name))
        };
        for name in MAPS.into_iter().filter(|name| measured(name)) {
            let status = Command::new(&executable)
                .args(&args[1..])
                .env("ENGINE_MEMORY_SHAPE", shape_name)
                .env("ENGINE_MEMORY_MAP", name)
                .env("ENGINE_MEMORY_ENTRIES", entries.to_string())
                .status()
                .expect("spawn the memory benchmark for one map");
            if !status.success() {
                println!(
                    "memory shape={shape_name} map={name} entries={entries} error=\"{status}\""
                );
                failed.push(format!("{shape_name}/{name}"));
            }
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("memory: failed for {failed:?}");
        ExitCode::FAILURE
    }
}
