//! # Throughput of the engine back-ends: the conc-map-bench mixes through the `Engine` trait
//!
//! This is a port of the workloads of xacrimon/conc-map-bench (itself built on jonhoo's
//! `bustle`, a port of libcuckoo's universal benchmark) to criterion, so every back-end is
//! measured through the same [`Engine`] trait the server uses, next to the maps we compare
//! ourselves with. `scripts/bench-engine.sh` runs it in alternating rounds and renders
//! `bench-results/engine.md`; `shared/BENCHMARKS.md` says why we measure that way.
//!
//! ## What one benchmark is
//!
//! A benchmark is named `{workload}/{keytype}/{threads}t/{map}`: criterion's group is
//! `{workload}/{keytype}/{threads}t` and the function is the map's name. One iteration runs
//! a fixed number of operations split evenly across `threads` worker threads. The workers live
//! as long as the benchmark, like a server's event loops (they also do the prefill); for each
//! iteration they get their job, wait at a [`Barrier`] and are released together, and the
//! clock runs from that release until the last of them reaches the finish line. Throughput is
//! reported as [`Throughput::Elements`], one element per operation.
//!
//! | workload | read | insert | remove | update | prefill |
//! |---|---|---|---|---|---|
//! | `ReadHeavy` | 98 | 1 | 1 | 0 | 75% |
//! | `Exchange` | 10 | 40 | 40 | 10 | 75% |
//! | `RapidGrow` | 5 | 80 | 5 | 10 | none |
//! | `ReadOnly` | 100 | 0 | 0 | 0 | 75% |
//!
//! The key streams follow bustle exactly: each thread owns a power-of-two array of distinct
//! keys; inserts walk it forwards from the prefilled prefix, removals follow behind them (the
//! oldest key first), and reads and updates pick positions across the *whole* array with
//! bustle's cheap LCG, so some of them miss (37.5% of reads hit with a 75% prefill). The 100
//! operation kinds of the mix are shuffled once and repeated. Keys are generated before any
//! measurement (a bijective mixer of the thread and position, so they are distinct without a
//! check), so no random-number generator runs inside the timed loop.
//!
//! Three deliberate differences from bustle, all so criterion can repeat short iterations:
//!
//! * One iteration runs `capacity / 4` operations (2^18 by default), where bustle runs
//!   `capacity` operations once. Criterion needs at least ten iterations per measurement and
//!   our 2-core machines run these maps at 2 to 20 Mop/s, so this keeps an iteration at 15 to
//!   150 ms and a whole round of the script at a few minutes.
//! * `ReadHeavy`, `Exchange` and `ReadOnly` are steady states (as many inserts as removals),
//!   so each map is built and prefilled once, untimed, and every iteration continues where the
//!   last stopped, the key window wrapping around the per-thread array. The tables therefore
//!   see long-run churn (tombstones, reclamation) rather than one fresh pass, on a table of
//!   2^20 slots (~0.8M live keys, larger than the caches).
//! * `RapidGrow` does grow, so every iteration gets a new table, created and dropped untimed,
//!   sized for that iteration's operations (2^18) so it ends as full as bustle's (80%
//!   inserts). As in bustle, the table is created `with_capacity(capacity)`, so RapidGrow
//!   measures insert-heavy traffic into a pre-sized table, not resizing.
//!
//! After every batch of iterations the map's `len` is checked against the number of keys the
//! streams left in it, so a back-end that loses or duplicates keys fails loudly instead of
//! producing a fast number.
//!
//! ## Maps, keys and values
//!
//! * Ours: `sharded`, `dashmap`, `flurry`, `lockfree`, each through [`Engine`], keys as
//!   `&[u8]` (a `u64` key is its 8 little-endian bytes).
//! * Anchors: `papaya` and `scc` at every thread count and `hashbrown` at one thread with no
//!   lock at all (the one-core limit). For a like-for-like comparison they store what the
//!   engine stores: `Box<[u8]>` keys. With `ENGINE_BENCH_NATIVE=1` the u64 tables also get
//!   `papaya-u64native`, `scc-u64native` and `hashbrown-u64native`, which key by the `u64`
//!   itself as conc-map-bench does (comparable with the reference figures, not with us).
//! * Every map stores the same value type, a `u64`; an update adds one to it.
//! * Every anchor hashes with `foldhash::fast::RandomState`, as our back-ends do.
//! * `papaya::HashMap::update` takes its key by value, so a papaya update with `Box<[u8]>`
//!   keys allocates the key (inserts allocate it in every map). That is papaya's API cost, and
//!   it only shows in `Exchange` and `RapidGrow`.
//!
//! ## Knobs
//!
//! * `ENGINE_BENCH_SKIP=lockfree,flurry`: maps not to register (criterion's filter is a regex
//!   without negation, so this is how a placeholder back-end is left out).
//! * `ENGINE_BENCH_CAPACITY_LOG2` (default 20): the steady-state table size; iterations and
//!   RapidGrow's tables are a quarter of it. With the defaults of this file (one second of
//!   warm-up, three of measurement) the whole suite of 152 benchmarks takes about 12 minutes.
//! * `ENGINE_BENCH_NATIVE=1`: the native-`u64` anchor variants described above.
//! * Run without `--bench` (`cargo test --benches`), every benchmark runs once on a 2^12 table.

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use engine::dashmap::DashMapEngine;
use engine::flurry::FlurryEngine;
use engine::sharded::Sharded;
use engine::{Engine, LockFree};
use std::hint::black_box;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

/// The hasher every anchor uses; our back-ends use foldhash too.
type FoldHash = foldhash::fast::RandomState;

/// Thread counts: one core, both cores, and twice oversubscribed on our 2-core machines.
const THREAD_COUNTS: [usize; 3] = [1, 2, 4];

/// Default table size: 2^20 slots, so ~0.8M live entries after the 75% prefill.
const CAPACITY_LOG2_DEFAULT: u32 = 20;

/// One iteration runs `capacity >> OPERATIONS_SHIFT` operations. bustle runs as many
/// operations as the capacity in one go; we repeat shorter iterations instead, because
/// criterion wants at least ten of them per measurement and the maps run 3 to 20 Mop/s on our
/// 2-core machines: 2^18 operations take 15 to 150 ms.
const OPERATIONS_SHIFT: u32 = 2;

/// Table size when run as a test (no `--bench`): enough to exercise every code path quickly
/// (the smallest size at which every thread of 4 still runs the whole mix).
const CAPACITY_LOG2_SMOKE: u32 = 12;

/// Largest accepted `ENGINE_BENCH_CAPACITY_LOG2`: at 2^26 the 16-byte key streams of one
/// thread count already take 2 GiB.
const CAPACITY_LOG2_MAX: u32 = 26;

// ----------------------------------------------------------------------------------------------
// Workloads
// ----------------------------------------------------------------------------------------------

/// One operation of a mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Insert,
    Remove,
    Update,
}

/// A bustle workload: the percentage of each operation, the prefill and whether the table must
/// be rebuilt for every iteration.
struct Workload {
    name: &'static str,
    read: u8,
    insert: u8,
    remove: u8,
    update: u8,
    /// Fraction of the capacity inserted before measuring.
    prefill_fraction: f64,
    /// The mix grows the table, so each iteration starts from a new, prefilled one.
    fresh_table_per_iteration: bool,
}

/// conc-map-bench's three mixes (`src/workloads.rs`) and a read-only one.
const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "ReadHeavy",
        read: 98,
        insert: 1,
        remove: 1,
        update: 0,
        prefill_fraction: 0.75,
        fresh_table_per_iteration: false,
    },
    Workload {
        name: "Exchange",
        read: 10,
        insert: 40,
        remove: 40,
        update: 10,
        prefill_fraction: 0.75,
        fresh_table_per_iteration: false,
    },
    Workload {
        name: "RapidGrow",
        read: 5,
        insert: 80,
        remove: 5,
        update: 10,
        prefill_fraction: 0.0,
        fresh_table_per_iteration: true,
    },
    Workload {
        name: "ReadOnly",
        read: 100,
        insert: 0,
        remove: 0,
        update: 0,
        prefill_fraction: 0.75,
        fresh_table_per_iteration: false,
    },
];

impl Workload {
    /// The 100 operations of the mix in a fixed shuffled order (bustle shuffles them once per
    /// run and repeats them), seeded by the workload's name so every map sees the same order.
    fn operations(&self) -> [Op; 100] {
        assert_eq!(
            self.read + self.insert + self.remove + self.update,
            100,
            "{}",
            self.name
        );
        let mut ops = [Op::Read; 100];
        let kinds = [
            (Op::Insert, self.insert),
            (Op::Remove, self.remove),
            (Op::Update, self.update),
        ];
        let mut next = usize::from(self.read);
        for (op, count) in kinds {
            for slot in &mut ops[next..next + usize::from(count)] {
                *slot = op;
            }
            next += usize::from(count);
        }
        let mut state = self
            .name
            .bytes()
            .fold(0u64, |h, b| splitmix64(h ^ u64::from(b)));
        for i in (1..ops.len()).rev() {
            state = splitmix64(state);
            ops.swap(i, (state % (i as u64 + 1)) as usize);
        }
        ops
    }
}

/// The sizes of one workload at one thread count, computed as bustle's `Workload::run` does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    capacity: usize,
    threads: usize,
    /// Length of each thread's key array; a power of two so the LCG can cycle over it.
    keys_per_thread: usize,
    prefill_per_thread: usize,
    /// Each thread runs the 100-operation mix this many times per iteration.
    mix_rounds_per_thread: usize,
}

impl Plan {
    fn new(workload: &Workload, capacity_log2: u32, threads: usize) -> Self {
        let operations = 1usize << (capacity_log2 - OPERATIONS_SHIFT);
        // A fresh table per iteration is sized for the iteration's operations, so it ends as
        // full as bustle's (80% inserts of `capacity` operations); a steady-state table keeps
        // the full capacity so it stays larger than the caches.
        let capacity = if workload.fresh_table_per_iteration {
            operations
        } else {
            1usize << capacity_log2
        };
        let prefill = (capacity as f64 * workload.prefill_fraction) as usize;
        // bustle: enough keys for every insert of a run, at least `capacity`, plus the prefill.
        let max_insert_ops = operations.div_ceil(100) * usize::from(workload.insert);
        let insert_keys = capacity.max(max_insert_ops) + prefill;
        let keys_per_thread = insert_keys.div_ceil(threads).next_power_of_two();
        let plan = Self {
            capacity,
            threads,
            keys_per_thread,
            prefill_per_thread: prefill / threads,
            mix_rounds_per_thread: operations / threads / 100,
        };
        // bustle's LCG needs at least 8 positions, and every thread must run the mix.
        assert!(
            plan.keys_per_thread >= 8 && plan.mix_rounds_per_thread > 0,
            "{plan:?}"
        );
        plan
    }

    /// Operations per iteration over all threads (the mix runs whole 100-operation rounds).
    fn operations_per_iteration(&self) -> u64 {
        (self.mix_rounds_per_thread * 100 * self.threads) as u64
    }
}

/// Where one thread is in its key stream. Positions grow without bound and are reduced modulo
/// the array length when used, so a steady-state workload can run for ever.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    /// Next position to insert.
    insert: usize,
    /// Next position to remove; the live keys are the positions `erase..insert`.
    erase: usize,
    /// Position of the next read or update, always below the array length.
    find: usize,
}

// ----------------------------------------------------------------------------------------------
// Keys
// ----------------------------------------------------------------------------------------------

/// SplitMix64's output function: a bijection on `u64`, so distinct inputs give distinct keys.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A key as the benchmark stores it in its pre-generated streams.
trait Key: AsRef<[u8]> + Copy + Send + Sync + 'static {
    /// The key type's part of the benchmark name.
    const LABEL: &'static str;
    /// Whether the native-`u64` anchor variants apply to this key type.
    const IS_U64: bool;
    /// The key for a unique `id`; distinct ids give distinct keys.
    fn from_id(id: u64) -> Self;
}

/// A `u64` key, as the 8 little-endian bytes our engines see.
impl Key for [u8; 8] {
    const LABEL: &'static str = "u64";
    const IS_U64: bool = true;
    fn from_id(id: u64) -> Self {
        splitmix64(id).to_le_bytes()
    }
}

/// A 16-byte byte-string key, the size of the keys the server's memory figures use.
impl Key for [u8; 16] {
    const LABEL: &'static str = "bytes16";
    const IS_U64: bool = false;
    fn from_id(id: u64) -> Self {
        let mut key = [0; 16];
        // The first half alone is already unique; the second half fills the key with noise.
        key[..8].copy_from_slice(&splitmix64(id).to_le_bytes());
        key[8..].copy_from_slice(&splitmix64(!id).to_le_bytes());
        key
    }
}

/// Every thread's key array for one plan. Thread `t`'s keys have ids `t << 40 | position`.
fn generate_keys<K: Key>(plan: &Plan) -> Vec<Vec<K>> {
    (0..plan.threads)
        .map(|thread| {
            let base = (thread as u64) << 40;
            (0..plan.keys_per_thread as u64)
                .map(|position| K::from_id(base | position))
                .collect()
        })
        .collect()
}

// The maps: `engine/maps.rs`.
#[path = "engine/maps.rs"]
mod maps;
use maps::{BenchMap, Hashbrown, Ours, Papaya, Scc};

// ----------------------------------------------------------------------------------------------
// The harness
// ----------------------------------------------------------------------------------------------

/// Runs `rounds` repetitions of the mix on one thread's keys and returns a checksum of the
/// values read (so no read can be optimised away). This is bustle's `mix` loop, with
/// positions reduced modulo the array length so it can continue across iterations.
fn run_mix<M: BenchMap, K: Key>(
    map: &M,
    keys: &[K],
    ops: &[Op; 100],
    cursor: &mut Cursor,
    rounds: usize,
) -> u64 {
    let mask = keys.len() - 1;
    // bustle's LCG over the positions: full period because the length is a power of two >= 8.
    let multiplier = keys.len() / 2 + 1;
    let increment = keys.len() / 4 - 1;
    let next_find = |find: usize| (multiplier.wrapping_mul(find).wrapping_add(increment)) & mask;
    let mut at = *cursor;
    let mut checksum = 0u64;
    for _ in 0..rounds {
        for op in ops {
            match op {
                Op::Read => {
                    if let Some(value) = map.get(keys[at.find].as_ref()) {
                        checksum = checksum.wrapping_add(value);
                    }
                    at.find = next_find(at.find);
                }
                Op::Insert => {
                    map.insert(keys[at.insert & mask].as_ref(), at.insert as u64);
                    at.insert += 1;
                }
                Op::Remove => {
                    if at.erase == at.insert {
                        // Nothing of ours is left: remove a random key, which must miss.
                        map.remove(keys[at.find].as_ref());
                        at.find = next_find(at.find);
                    } else {
                        map.remove(keys[at.erase & mask].as_ref());
                        at.erase += 1;
                    }
                }
                Op::Update => {
                    map.update(keys[at.find].as_ref());
                    at.find = next_find(at.find);
                }
            }
        }
    }
    *cursor = at;
    checksum
}

/// Inserts this thread's prefix of keys, as bustle's prefill threads do.
fn prefill<M: BenchMap, K: Key>(map: &M, keys: &[K], cursor: &mut Cursor, prefill: usize) {
    for (position, key) in keys.iter().enumerate().take(prefill).skip(cursor.insert) {
        map.insert(key.as_ref(), position as u64);
    }
    cursor.insert = cursor.insert.max(prefill);
}

/// What a worker is asked to do with its share of the keys.
#[derive(Clone, Copy, Debug)]
enum Work {
    Prefill,
    Mix,
}

/// One job for one worker.
struct Job<M> {
    map: Arc<M>,
    cursor: Cursor,
    work: Work,
}

/// A worker's answer: its thread index and its cursor afterwards, or the panic it caught.
type Done = (usize, std::thread::Result<Cursor>);

/// The worker threads of one benchmark.
///
/// They live as long as the benchmark, like a server's event-loop threads, rather than one
/// iteration: a thread spawned per iteration starts with an empty malloc cache, which on our
/// machines made allocation-heavy mixes (every insert allocates a key) about a third slower
/// and would penalise exactly the maps that allocate.
struct Workers<'a, M> {
    jobs: Vec<mpsc::Sender<Job<M>>>,
    done: mpsc::Receiver<Done>,
    start_line: &'a Barrier,
    finish_line: &'a Barrier,
}

impl<M: BenchMap> Workers<'_, M> {
    /// Runs `work` on every thread at once; returns the wall time from the moment they were
    /// all released until the last one finished. Panics (re-raises) if a worker panicked.
    fn run(&self, map: &Arc<M>, cursors: &mut [Cursor], work: Work) -> Duration {
        for (jobs, cursor) in self.jobs.iter().zip(cursors.iter()) {
            let job = Job {
                map: Arc::clone(map),
                cursor: *cursor,
                work,
            };
            jobs.send(job).expect("a worker thread is gone");
        }
        // Every worker has its job and waits here, so the clock starts with all of them ready.
        self.start_line.wait();
        let start = Instant::now();
        self.finish_line.wait();
        let elapsed = start.elapsed();
        for _ in 0..cursors.len() {
            let (thread, outcome) = self.done.recv().expect("a worker thread is gone");
            match outcome {
                Ok(cursor) => cursors[thread] = cursor,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        elapsed
    }

    /// A new table with every thread's prefix of keys inserted by that thread.
    fn build(&self, plan: &Plan) -> (Arc<M>, Vec<Cursor>) {
        let map = Arc::new(M::with_capacity(plan.capacity));
        let mut cursors = vec![Cursor::default(); plan.threads];
        self.run(&map, &mut cursors, Work::Prefill);
        (map, cursors)
    }
}

/// A worker thread's loop: one job at a time until the benchmark closes the channel.
fn worker<M: BenchMap, K: Key>(
    thread: usize,
    context: &GroupContext<'_, K>,
    jobs: mpsc::Receiver<Job<M>>,
    done: mpsc::Sender<Done>,
    start_line: &Barrier,
    finish_line: &Barrier,
) {
    for Job {
        map,
        mut cursor,
        work,
    } in jobs
    {
        let keys = &context
            .keys
            .get()
            .expect("keys are generated before the first job")[thread];
        start_line.wait();
        // A panicking map must still reach the finish line, or every other thread would wait
        // there for ever; the panic is handed to the main thread, which re-raises it.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match work {
            Work::Prefill => prefill(&*map, keys, &mut cursor, context.plan.prefill_per_thread),
            Work::Mix => {
                let rounds = context.plan.mix_rounds_per_thread;
                black_box(run_mix(&*map, keys, &context.ops, &mut cursor, rounds));
            }
        }));
        finish_line.wait();
        // Our reference goes before we report, so the main thread's is the last one.
        drop(map);
        // Only fails if the main thread is unwinding, which then reports its own panic.
        let _ = done.send((thread, outcome.map(|()| cursor)));
    }
}

/// Panics unless the map holds exactly the keys the streams left in it.
fn check_len<M: BenchMap>(map: &M, cursors: &[Cursor], name: &str) {
    let expected: usize = cursors
        .iter()
        .map(|cursor| cursor.insert - cursor.erase)
        .sum();
    let len = map.len();
    assert_eq!(
        len, expected,
        "{name}: len() is {len} but the key streams left {expected} keys"
    );
}

/// What every map of one group shares: the plan, the shuffled mix and the key streams (built
/// on first use, so a filtered-out group costs nothing).
struct GroupContext<'a, K> {
    workload: &'a Workload,
    plan: Plan,
    ops: [Op; 100],
    keys: OnceLock<Vec<Vec<K>>>,
}

/// Registers one map in a group, unless it is skipped or cannot run at this thread count.
fn bench_map<M: BenchMap, K: Key>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    settings: &Settings,
    context: &GroupContext<'_, K>,
    name: &str,
) {
    if settings.skips(name) || (!M::CONCURRENT && context.plan.threads > 1) {
        return;
    }
    let plan = context.plan;
    let start_line = Barrier::new(plan.threads + 1);
    let finish_line = Barrier::new(plan.threads + 1);
    std::thread::scope(|scope| {
        let (done_sender, done) = mpsc::channel();
        let jobs = (0..plan.threads)
            .map(|thread| {
                let (job_sender, jobs) = mpsc::channel();
                let done = done_sender.clone();
                let (start_line, finish_line) = (&start_line, &finish_line);
                scope.spawn(move || {
                    worker::<M, K>(thread, context, jobs, done, start_line, finish_line)
                });
                job_sender
            })
            .collect();
        let workers = Workers {
            jobs,
            done,
            start_line: &start_line,
            finish_line: &finish_line,
        };
        // A steady-state table lives across every call of this benchmark's routine.
        let mut steady: Option<(Arc<M>, Vec<Cursor>)> = None;
        group.bench_function(name, |bencher| {
            bencher.iter_custom(|iterations| {
                context.keys.get_or_init(|| generate_keys(&plan));
                let mut total = Duration::ZERO;
                if context.workload.fresh_table_per_iteration {
                    for _ in 0..iterations {
                        let (map, mut cursors) = workers.build(&plan);
                        total += workers.run(&map, &mut cursors, Work::Mix);
                        check_len(&*map, &cursors, name);
                        // The workers dropped their references: this frees the table, untimed.
                        drop(map);
                    }
                } else {
                    let (map, cursors) = steady.get_or_insert_with(|| workers.build(&plan));
                    for _ in 0..iterations {
                        total += workers.run(map, cursors, Work::Mix);
                    }
                    check_len(&**map, cursors, name);
                }
                total
            })
        });
        // Closing the job channels ends the workers; the scope joins them.
        drop(workers);
    });
}

/// Every map at one workload, key type and thread count, in a fixed order (so rounds of the
/// script alternate over the same sequence).
fn bench_group<K: Key>(
    c: &mut Criterion,
    settings: &Settings,
    workload: &Workload,
    threads: usize,
) {
    let plan = Plan::new(workload, settings.capacity_log2, threads);
    let context = GroupContext {
        workload,
        plan,
        ops: workload.operations(),
        keys: OnceLock::new(),
    };
    let mut group = c.benchmark_group(format!("{}/{}/{}t", workload.name, K::LABEL, threads));
    // Iterations take tens of milliseconds: criterion's flat sampling is the mode for that.
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(plan.operations_per_iteration()));

    bench_map::<Ours<Sharded<u64>>, K>(&mut group, settings, &context, Sharded::<u64>::NAME);
    bench_map::<Ours<DashMapEngine<u64>>, K>(
        &mut group,
        settings,
        &context,
        DashMapEngine::<u64>::NAME,
    );
    bench_map::<Ours<FlurryEngine<u64>>, K>(
        &mut group,
        settings,
        &context,
        FlurryEngine::<u64>::NAME,
    );
    bench_map::<Ours<LockFree<u64>>, K>(&mut group, settings, &context, LockFree::<u64>::NAME);
    bench_map::<Papaya<Box<[u8]>>, K>(&mut group, settings, &context, "papaya");
    bench_map::<Scc<Box<[u8]>>, K>(&mut group, settings, &context, "scc");
    bench_map::<Hashbrown<Box<[u8]>>, K>(&mut group, settings, &context, "hashbrown");
    if settings.native && K::IS_U64 {
        bench_map::<Papaya<u64>, K>(&mut group, settings, &context, "papaya-u64native");
        bench_map::<Scc<u64>, K>(&mut group, settings, &context, "scc-u64native");
        bench_map::<Hashbrown<u64>, K>(&mut group, settings, &context, "hashbrown-u64native");
    }
    group.finish();
}

/// What the environment asks for.
struct Settings {
    capacity_log2: u32,
    skip: Vec<String>,
    native: bool,
}

impl Settings {
    fn from_env() -> Self {
        // Criterion runs each benchmark once, as a test, unless cargo passed `--bench` (and
        // not `--test`); mirror its rule so `cargo test --benches` stays quick.
        let args: Vec<String> = std::env::args().collect();
        let test_mode = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
        let default_log2 = if test_mode {
            CAPACITY_LOG2_SMOKE
        } else {
            CAPACITY_LOG2_DEFAULT
        };
        let capacity_log2 = match std::env::var("ENGINE_BENCH_CAPACITY_LOG2") {
            Ok(value) => value
                .trim()
                .parse()
                .expect("ENGINE_BENCH_CAPACITY_LOG2: an integer"),
            Err(_) => default_log2,
        };
        assert!(
            (CAPACITY_LOG2_SMOKE..=CAPACITY_LOG2_MAX).contains(&capacity_log2),
            "ENGINE_BENCH_CAPACITY_LOG2 must be in {CAPACITY_LOG2_SMOKE}..={CAPACITY_LOG2_MAX}"
        );
        let skip = std::env::var("ENGINE_BENCH_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect();
        let native = std::env::var("ENGINE_BENCH_NATIVE").is_ok_and(|v| v == "1");
        Self {
            capacity_log2,
            skip,
            native,
        }
    }

    fn skips(&self, name: &str) -> bool {
        self.skip.iter().any(|skipped| skipped == name)
    }
}

fn all(c: &mut Criterion) {
    let settings = Settings::from_env();
    for workload in &WORKLOADS {
        for threads in THREAD_COUNTS {
            bench_group::<[u8; 8]>(c, &settings, workload, threads);
        }
        for threads in THREAD_COUNTS {
            bench_group::<[u8; 16]>(c, &settings, workload, threads);
        }
    }
}

/// Defaults for a single `cargo bench` run (the script overrides the times per round): ten
/// flat samples is criterion's minimum and plenty for iterations this long; one second of
/// warm-up covers building the table; plots are off because the script renders its own.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .nresamples(10_000)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = all
}
criterion_main!(benches);
