//! The writer and replay together: concurrent writers over every engine and every
//! `appendfsync` policy, with a rewrite in the middle, then the live state against the state
//! replayed from the files; the same through a fault-injecting store (EIO, ENOSPC, short
//! writes, failed syncs); and the rule for a batch whose sync failed when the process dies.

mod common;

use common::{dump, TempDir};
use engine::dashmap::DashMapEngine;
use engine::flurry::FlurryEngine;
use engine::sharded::Sharded;
use engine::{Engine, LockFree};
use keyspace::{
    End, ExpireCondition, ExpireOption, Journal, Keyspace, ListPosition, SetCondition, SetOptions,
    StoreMode, Str, Value,
};
use persistence::device::DeviceSegments;
use persistence::log::{self, AppendLog, Fsync, Io, Options, Snapshotter};
use persistence::replay::{self, LoadOptions};
use persistence::storage::{Faults, FaultyStorage, Storage};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FILE: &str = "appendonly.aof";

/// splitmix64, seeded per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random mutation over a small key set, so threads collide on keys (strings and lists
/// both, every kind of effect, multi-key commands included). Errors (WRONGTYPE and friends)
/// are part of the workload.
fn random_write<E: Engine<Value = Value>>(keyspace: &Keyspace<E>, rng: &mut Rng) {
    let key = format!("k{}", rng.below(12)).into_bytes();
    let other = format!("k{}", rng.below(12)).into_bytes();
    let value = format!("v{}", rng.below(1000)).into_bytes();
    let element = format!("e{}", rng.below(5)).into_bytes();
    let later = keyspace.now_ms() + 3_600_000 + rng.below(1000);
    let end = if rng.below(2) == 0 {
        End::Left
    } else {
        End::Right
    };
    match rng.below(24) {
        0..=3 => {
            let options = SetOptions {
                condition: match rng.below(4) {
                    0 => SetCondition::IfAbsent,
                    1 => SetCondition::IfPresent,
                    _ => SetCondition::Always,
                },
                expire: if rng.below(3) == 0 {
                    ExpireOption::At(later)
                } else {
                    ExpireOption::Clear
                },
                get_old: false,
                flags: 0,
            };
            let _ = keyspace.shared().set(&key, Str::copy_from(&value), options);
        }
        4 => {
            let _ = keyspace.shared().incr_by(&key, rng.below(10) as i64 - 5);
        }
        5 => {
            let _ = keyspace.shared().append(&key, &value);
        }
        6 => {
            keyspace.shared().del(&[&key]);
        }
        7 => {
            keyspace
                .shared()
                .expire_at(&key, later, ExpireCondition::Always);
        }
        8 => {
            keyspace.shared().persist(&key);
        }
        9..=11 => {
            let elements: [&[u8]; 2] = [&element, &value];
            let _ = keyspace
                .shared()
                .push(&key, end, &elements[..1 + rng.below(2) as usize]);
        }
        12 => {
            let _ = keyspace.shared().pop(&key, end, 1 + rng.below(2) as usize);
        }
        13 => {
            let _ = keyspace
                .shared()
                .lset(&key, rng.below(4) as i64 - 2, &value);
        }
        14 => {
            let _ = keyspace
                .shared()
                .lrem(&key, rng.below(3) as i64 - 1, &element);
        }
        15 => {
            let _ = keyspace.shared().ltrim(&key, rng.below(3) as i64, -1);
        }
        16 => {
            let _ = keyspace
                .shared()
                .linsert(&key, ListPosition::Before, &element, &value);
        }
        17 => {
            let _ = keyspace.exclusive().lmove(&key, &other, end, End::Right);
        }
        18 => {
            let _ = keyspace.exclusive().rename(&key, &other, rng.below(2) == 0);
        }
        19 => {
            keyspace.exclusive().copy(&key, &other, rng.below(2) == 0);
        }
        20 => {
            keyspace
                .exclusive()
                .mset(&[(&key, &value), (&other, &element)]);
        }
        21 => {
            let mode = [StoreMode::Set, StoreMode::Add, StoreMode::Append][rng.below(3) as usize];
            let _ = keyspace
                .shared()
                .store(mode, &key, Str::copy_from(&value), 7, later, None);
        }
        22 => {
            let _ = keyspace
                .shared()
                .arith(&key, true, rng.below(5), None, None);
        }
        _ => {
            if rng.below(40) == 0 {
                keyspace.exclusive().flush();
            } else {
                // An expiry in the past deletes the key, and is logged as a delete.
                keyspace
                    .shared()
                    .expire_at(&key, 1, ExpireCondition::Always);
            }
        }
    }
}

fn snapshotter<E: Engine<Value = Value>>(keyspace: &Arc<Keyspace<E>>) -> Snapshotter {
    let keyspace = Arc::clone(keyspace);
    Arc::new(move |visit| {
        keyspace.snapshot(|version, effect| visit(0, version, effect));
    })
}

fn options(dir: &Path, fsync: Fsync) -> Options {
    Options {
        dir: dir.to_path_buf(),
        file_name: FILE.into(),
        fsync,
        auto_rewrite_percentage: 0,
        auto_rewrite_min_bytes: 0,
        pipeline_depth: 4,
    }
}

/// Starts a writer over `manifest` with `opener` and attaches it to `keyspace` as its journal.
fn start_log<E: Engine<Value = Value>>(
    keyspace: &Arc<Keyspace<E>>,
    dir: &Path,
    fsync: Fsync,
    manifest: persistence::manifest::Manifest,
    opener: log::Opener,
) -> Arc<AppendLog> {
    let log = Arc::new(
        AppendLog::start(
            options(dir, fsync),
            manifest,
            0,
            opener,
            snapshotter(keyspace),
        )
        .unwrap(),
    );
    assert!(keyspace
        .set_journal(Arc::clone(&log) as Arc<dyn Journal>)
        .is_ok());
    log
}

fn replayed<E: Engine<Value = Value>>(dir: &Path, device: Option<&Path>) -> Keyspace<E> {
    let keyspace = Keyspace::new(E::new());
    let devices = device.map(|path| {
        let bytes = std::fs::metadata(path).expect("the device file").len();
        open_device_of(path, dir, bytes)
    });
    replay::scan(dir, FILE, LoadOptions::default(), devices.as_deref())
        .and_then(|scanned| scanned.apply(&keyspace))
        .expect("replay");
    keyspace
}

/// A device file for the segments, beside the AOF directory: 4 slots of 4 MiB.
/// One field of the log's `INFO persistence` text.
fn info_field(log: &AppendLog, name: &str) -> String {
    let info = log.info();
    match info.iter().find(|(key, _)| *key == name) {
        Some((_, value)) => value.clone(),
        None => panic!("no {name} in {info:?}"),
    }
}

/// The number of rewrites the log has completed.
fn rewrites_done(log: &AppendLog) -> u64 {
    info_field(log, "aof_rewrites").parse().unwrap()
}

/// Waits until no rewrite is running or scheduled. The request is read before the running
/// flag: the writer sets the flag as it takes the request, so in this order a rewrite that
/// was asked for is always seen as one or the other until it ends.
fn wait_for_rewrites(log: &AppendLog) {
    while info_field(log, "aof_rewrite_scheduled") == "1" || log.rewriting() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn open_device(path: &Path, dir: &Path) -> Arc<DeviceSegments> {
    open_device_of(path, dir, 16 << 20)
}

fn open_device_of(path: &Path, dir: &Path, bytes: u64) -> Arc<DeviceSegments> {
    let options = nvme::DeviceOptions {
        queue_depth: 4,
        buffer_bytes: 16 * 1024,
        sqpoll_idle_ms: None,
        durability: nvme::Durability::Dsync,
        file_bytes: Some(bytes),
    };
    DeviceSegments::open(path, options, dir, FILE).expect("open the device")
}

/// Segments of 2 MiB under a write load of about 10 MB (random writes plus 8 KB values on a
/// few keys): the writer must rewrite at half of a segment, and when a segment fills before
/// the switch, carry what did not fit into the next one. Nothing may be lost or reordered.
/// (A segment must hold the largest batch: about 1 MiB under the lazy policies.)
#[test]
fn small_device_segments_fill_and_rewrite_without_losing_writes_under_always() {
    small_device_segments_fill(Fsync::Always);
}

/// Under `everysec` this found records left in the pending buffer at shutdown, behind a tail
/// held at its limit.
#[test]
fn small_device_segments_fill_and_rewrite_without_losing_writes_under_everysec() {
    small_device_segments_fill(Fsync::EverySec);
}

fn small_device_segments_fill(fsync: Fsync) {
    if let Err(error) = persistence::uring::UringStorage::probe() {
        println!("skipped: the device path needs io_uring: {error}");
        return;
    }
    {
        let dir = TempDir::new("log-small-device");
        let device_path = dir.0.with_extension("device");
        let _ = std::fs::remove_file(&device_path);
        let keyspace = Arc::new(Keyspace::new(LockFree::<Value>::new()));
        let devices = open_device_of(&device_path, &dir.0, 8 << 20);
        let loaded = replay::scan(&dir.0, FILE, LoadOptions::default(), Some(&devices))
            .and_then(|scanned| scanned.apply(&keyspace))
            .unwrap();
        let log = start_log(
            &keyspace,
            &dir.0,
            fsync,
            loaded.manifest,
            devices.opener(log::file_opener(Io::Uring)),
        );
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let keyspace = &keyspace;
                scope.spawn(move || {
                    let mut rng = Rng(900 + thread);
                    for write in 0..3_000u64 {
                        random_write(keyspace, &mut rng);
                        if write % 8 == 0 {
                            let key = format!("big{}", rng.below(4));
                            let value = vec![b'a' + (write % 26) as u8; 8 * 1024];
                            let _ = keyspace.shared().set(
                                key.as_bytes(),
                                Str::copy_from(&value),
                                SetOptions::default(),
                            );
                        }
                    }
                });
            }
        });
        // Writes refused while a segment was full (MISCONF) are retried by the writer; wait
        // until everything is written and no rewrite is running.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while log.rewriting() || log.write_error().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the log did not settle: {:?} {:?}",
                log.write_error(),
                log.info()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        log.shutdown();
        let rewrites = rewrites_done(&log);
        assert!(
            rewrites >= 2,
            "segments filled and were rewritten: {:?}",
            log.info()
        );
        let live = dump(&keyspace);
        drop(log);
        drop(devices);
        let again = replayed::<LockFree<Value>>(&dir.0, Some(&device_path));
        assert_eq!(dump(&again), live, "{fsync:?} after {rewrites} rewrites");
        let _ = std::fs::remove_file(&device_path);
    }
}

/// Threads write at random through the log; along the way one of them asks for `rewrites`
/// rewrites; then the state replayed from the directory (and the device, when the segments
/// are on one) must be the live state.
fn live_equals_replayed<E: Engine<Value = Value>>(
    fsync: Fsync,
    io: Io,
    seed: u64,
    on_device: bool,
    rewrites: u64,
) {
    const THREADS: u64 = 4;
    const WRITES: u64 = 2_000;
    let dir = TempDir::new("log-live");
    let device_path = dir.0.with_extension("device");
    let _ = std::fs::remove_file(&device_path);
    let keyspace = Arc::new(Keyspace::new(E::new()));
    let (manifest, opener) = if on_device {
        // Replay first, as the server does: it creates the new log's first segment on the
        // device and hands it to the writer.
        let devices = open_device(&device_path, &dir.0);
        let loaded = replay::scan(&dir.0, FILE, LoadOptions::default(), Some(&devices))
            .and_then(|scanned| scanned.apply(&keyspace))
            .unwrap();
        let first = dir.0.join(&loaded.manifest.parts[0].name);
        assert!(
            persistence::device::Stub::read(&first).unwrap().is_some(),
            "the first segment is on the device"
        );
        (loaded.manifest, devices.opener(log::file_opener(io)))
    } else {
        let manifest = replay::open_or_create(&dir.0, FILE).unwrap();
        (manifest, log::file_opener(io))
    };
    let log = start_log(&keyspace, &dir.0, fsync, manifest, opener);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let keyspace = &keyspace;
            let log = &log;
            scope.spawn(move || {
                let mut rng = Rng(seed * 1000 + thread);
                for write in 0..WRITES {
                    random_write(keyspace, &mut rng);
                    let step = WRITES / (rewrites + 1);
                    let due = write > 0 && write % step == 0 && write / step <= rewrites;
                    if thread == 0 && due {
                        // One at a time, each to its end: a request made while another is
                        // only scheduled merges with it.
                        let target = write / step;
                        while log.rewrite().is_err() {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        let deadline = std::time::Instant::now() + Duration::from_secs(30);
                        while rewrites_done(log) < target {
                            assert!(std::time::Instant::now() < deadline, "rewrite {target}");
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            });
        }
    });
    wait_for_rewrites(&log);
    log.shutdown();
    assert_eq!(rewrites_done(&log), rewrites, "{:?}", log.info());
    assert_eq!(info_field(&log, "aof_last_bgrewrite_status"), "ok");
    let manifest = persistence::manifest::load(&dir.0, FILE).unwrap().unwrap();
    assert_eq!(
        manifest.parts.len(),
        2,
        "base + one segment after the rewrite: {manifest:?}"
    );

    let live = dump(&keyspace);
    assert!(!live.is_empty(), "the workload leaves keys");
    drop(log);
    let again = replayed::<E>(&dir.0, on_device.then_some(device_path.as_path()));
    assert_eq!(
        dump(&again),
        live,
        "{} {fsync:?} {io:?} seed {seed} device {on_device}",
        E::NAME
    );
    if on_device {
        // The segment's file is a stub; without the device the start is refused by name.
        let keyspace = Keyspace::new(E::new());
        let error = replay::load(&dir.0, FILE, &keyspace, LoadOptions::default()).unwrap_err();
        assert!(error.to_string().contains("--aof-device"), "{error}");
        let _ = std::fs::remove_file(&device_path);
    }
}

#[test]
fn live_state_equals_replayed_state_on_every_engine_and_policy() {
    let uring = persistence::uring::UringStorage::probe().is_ok();
    for (index, fsync) in [Fsync::Always, Fsync::EverySec, Fsync::No]
        .into_iter()
        .enumerate()
    {
        let io = if uring && index != 1 {
            Io::Uring
        } else {
            Io::Sync
        };
        let seed = index as u64 + 1;
        live_equals_replayed::<LockFree<Value>>(fsync, io, seed, false, 1);
        live_equals_replayed::<Sharded<Value>>(fsync, io, seed + 10, false, 1);
        live_equals_replayed::<DashMapEngine<Value>>(fsync, io, seed + 20, false, 1);
        live_equals_replayed::<FlurryEngine<Value>>(fsync, io, seed + 30, false, 1);
    }
}

#[test]
fn live_state_equals_replayed_state_with_segments_on_a_device() {
    if let Err(error) = persistence::uring::UringStorage::probe() {
        println!("skipped: the device path needs io_uring: {error}");
        return;
    }
    // Three rewrites: the third segment's slot is the first one's, reused.
    for (index, fsync) in [Fsync::Always, Fsync::EverySec, Fsync::No]
        .into_iter()
        .enumerate()
    {
        live_equals_replayed::<LockFree<Value>>(fsync, Io::Uring, 40 + index as u64, true, 3);
    }
}

/// A [`FaultyStorage`] the test keeps a handle on while the writer owns it.
#[derive(Clone)]
struct Handle(Arc<Mutex<FaultyStorage>>);

impl Handle {
    fn lock(&self) -> std::sync::MutexGuard<'_, FaultyStorage> {
        self.0.lock().unwrap()
    }
}

impl Storage for Handle {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        self.lock().write_at(offset, bytes)
    }
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        self.lock().read_at(offset, buffer)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.lock().sync()
    }
    fn size(&self) -> io::Result<u64> {
        self.lock().size()
    }
    fn truncate(&mut self, size: u64) -> io::Result<()> {
        self.lock().truncate(size)
    }
}

/// A log whose active segment is `storage`; the directory holds the manifest.
fn faulty_log<E: Engine<Value = Value>>(
    dir: &Path,
    keyspace: &Arc<Keyspace<E>>,
    storage: &Handle,
    fsync: Fsync,
) -> Arc<AppendLog> {
    let manifest = replay::open_or_create(dir, FILE).unwrap();
    let handle = storage.clone();
    let opener: log::Opener = Box::new(move |_| Ok(Box::new(handle.clone()) as Box<dyn Storage>));
    start_log(keyspace, dir, fsync, manifest, opener)
}

/// Puts what a crash left of `storage` where replay reads the active segment.
fn crash_into(dir: &Path, storage: &Handle) {
    let contents = storage.lock().crash();
    let manifest = persistence::manifest::load(dir, FILE).unwrap().unwrap();
    std::fs::write(dir.join(&manifest.active().name), contents).unwrap();
}

#[test]
fn the_writer_gets_through_eio_enospc_short_writes_and_failed_syncs() {
    let faults = Faults {
        write_eio_per_mille: 30,
        write_enospc_per_mille: 20,
        short_write_per_mille: 150,
        sync_eio_per_mille: 60,
    };
    for seed in 1..=3 {
        let dir = TempDir::new("log-faults");
        let storage = Handle(Arc::new(Mutex::new(FaultyStorage::new(faults, seed))));
        let keyspace = Arc::new(Keyspace::new(LockFree::<Value>::new()));
        let log = faulty_log(&dir.0, &keyspace, &storage, Fsync::Always);
        let mut saw_failing = false;
        std::thread::scope(|scope| {
            for thread in 0..3 {
                let keyspace = &keyspace;
                let log = &log;
                scope.spawn(move || {
                    let mut rng = Rng(seed * 100 + thread);
                    for _ in 0..300 {
                        random_write(keyspace, &mut rng);
                        // As a client under `always`: wait for the write to be durable. The
                        // writer retries through the faults; it must get there.
                        let ticket = log::thread_ticket();
                        assert!(
                            log.wait_durable(ticket, Duration::from_secs(60)),
                            "the writer never got through"
                        );
                    }
                });
            }
            for _ in 0..200 {
                saw_failing |= log.write_error().is_some();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        assert!(
            saw_failing,
            "seed {seed}: faults at these rates should have been seen"
        );
        log.shutdown();
        assert_eq!(
            log.write_error(),
            None,
            "healthy again after a successful batch"
        );
        // Everything was acknowledged as durable, so a crash now loses nothing.
        crash_into(&dir.0, &storage);
        let again = replayed::<LockFree<Value>>(&dir.0, None);
        assert_eq!(dump(&again), dump(&keyspace), "seed {seed}");
    }
}

/// The rule of the `log` module docs: records of a batch whose sync failed are not durable;
/// if the process dies before a retry succeeds, replay keeps every acknowledged write and, of
/// the failed batch, at most a prefix of whole records (never a hole, never a torn record).
#[test]
fn a_crash_while_syncs_fail_keeps_every_acknowledged_write_and_a_prefix_of_the_rest() {
    for seed in 1..=20 {
        let dir = TempDir::new("log-rule");
        let storage = Handle(Arc::new(Mutex::new(FaultyStorage::new(
            Faults::default(),
            seed,
        ))));
        let keyspace = Arc::new(Keyspace::new(LockFree::<Value>::new()));
        let log = faulty_log(&dir.0, &keyspace, &storage, Fsync::Always);
        // Acknowledged: durable before the disk goes bad.
        for index in 0..50 {
            keyspace
                .exclusive()
                .mset(&[(format!("a{index}").as_bytes(), b"acknowledged")]);
            assert!(log.wait_durable(log::thread_ticket(), Duration::from_secs(10)));
        }
        storage.lock().set_faults(Faults {
            sync_eio_per_mille: 1000,
            ..Faults::default()
        });
        for index in 0..30 {
            keyspace
                .exclusive()
                .mset(&[(format!("b{index}").as_bytes(), b"never acknowledged")]);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while log.write_error().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the failed sync was not reported"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(log.durable_position() < log.appended_position());
        // The process dies now; the writer is left behind (its storage is in memory).
        crash_into(&dir.0, &storage);
        let again = replayed::<LockFree<Value>>(&dir.0, None);
        let state = dump(&again);
        for index in 0..50 {
            assert!(
                state.contains_key(format!("a{index}").as_bytes()),
                "seed {seed}: a{index} lost"
            );
        }
        let kept = (0..30)
            .take_while(|index| state.contains_key(format!("b{index}").as_bytes()))
            .count();
        assert_eq!(
            state.len(),
            50 + kept,
            "seed {seed}: the failed batch left a hole"
        );
        storage.lock().set_faults(Faults::default());
        log.shutdown();
    }
}

/// A list longer than one record holds (65,533 elements) is logged, rewritten into a base and
/// replayed whole: the push and the base's `PutList` continue in records of the same version.
#[test]
fn a_list_longer_than_a_record_survives_logging_rewrite_and_replay() {
    let dir = TempDir::new("log-long-list");
    let manifest = replay::open_or_create(&dir.0, FILE).unwrap();
    let keyspace = Arc::new(Keyspace::new(LockFree::<Value>::new()));
    let log = start_log(
        &keyspace,
        &dir.0,
        Fsync::EverySec,
        manifest,
        log::file_opener(Io::Sync),
    );
    let owned: Vec<Vec<u8>> = (0..100_000).map(|i| format!("e{i}").into_bytes()).collect();
    let elements: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    keyspace
        .shared()
        .push(b"long", End::Left, &elements)
        .unwrap();
    keyspace
        .shared()
        .push(b"long", End::Right, &elements[..70_000])
        .unwrap();
    // The log of the pushes replays to the same list; then the same through a base.
    log.rewrite().unwrap();
    wait_for_rewrites(&log);
    assert_eq!(
        rewrites_done(&log),
        1,
        "the rewrite wrote its base: {:?}",
        log.info()
    );
    keyspace
        .shared()
        .push(b"long", End::Left, &elements[..3])
        .unwrap();
    log.shutdown();
    let live = dump(&keyspace);
    drop(log);
    let again = replayed::<LockFree<Value>>(&dir.0, None);
    assert!(dump(&again) == live, "the long list replays whole");
}
