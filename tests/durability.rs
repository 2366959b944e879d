//! Crash tests of the append-only file: the real binary, concurrent writers over RESP and
//! memcached (text and binary), SIGKILL at a random moment, restart on the same directory,
//! check. Engines rotate from one start to the next (the log does not depend on the engine),
//! and automatic rewrites are made frequent so kills also land inside rewrites.
//!
//! * `appendfsync always`: every acknowledged write is there with its value; the one write
//!   each writer had in flight may or may not be.
//! * `appendfsync everysec`: what survives is a prefix of each writer's writes (no holes);
//!   the writes lost are counted and printed, with how long before the kill they were
//!   acknowledged (a measurement, not an assertion: timing is for benchmarks).
//! * `appendfsync always` with `--aof-device` (a 32 MB file, so four 8 MB segment slots):
//!   the same promise when the segments are block logs written with O_DIRECT, through
//!   rewrites that reuse slots.
//!
//! Short by default (CI). The long mode runs by hand:
//! `WORKINGDB_CRASH_CYCLES=300 cargo test --release --test durability -- --nocapture`.
//! `WORKINGDB_CRASH_SEED` replays a run's kill timings (each run prints its seed).

mod common;

use common::{Server, ENGINES};
use redis::Commands;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Slots each string writer cycles through (so keys are overwritten many times).
const SLOTS: u64 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RespString,
    RespList,
    MemcacheText,
    MemcacheBinary,
}

/// What a writer knows of its own writes. Sequence numbers start at 1 and go up by one.
#[derive(Debug, Default, Clone)]
struct Progress {
    /// The last write the server acknowledged.
    acked: u64,
    /// The write sent and not (yet) acknowledged when the connection broke.
    in_flight: Option<u64>,
    /// When each write of this run was acknowledged (for the everysec loss window).
    acked_at: BTreeMap<u64, Instant>,
}

struct Writer {
    kind: Kind,
    id: usize,
    progress: Arc<Mutex<Progress>>,
}

fn key(id: usize, slot: u64) -> String {
    format!("w{id}:s{slot}")
}

fn list_key(id: usize) -> String {
    format!("w{id}:list")
}

/// Writes until the server goes away.
fn write_until_killed(server_port: (u16, u16), writer: &Writer, stop: &AtomicBool) {
    let (port, memcache_port) = server_port;
    let mut redis = None;
    let mut memcache = None;
    match writer.kind {
        Kind::RespString | Kind::RespList => {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            // A kill that lands before the connection is made ends this writer's run.
            let Ok(connection) = client.get_connection() else {
                return;
            };
            redis = Some(connection);
        }
        Kind::MemcacheText | Kind::MemcacheBinary => {
            let protocol = if writer.kind == Kind::MemcacheText {
                "ascii"
            } else {
                "binary"
            };
            let url = format!("memcache://127.0.0.1:{memcache_port}?timeout=5&protocol={protocol}");
            // The crate's pool waits 30 s by default for a connection it can no longer make
            // once the server is gone; the writer should notice the kill at once.
            let client = memcache::Client::builder()
                .add_server(url)
                .and_then(|builder| {
                    builder
                        .with_connection_timeout(Duration::from_secs(1))
                        .build()
                });
            let Ok(client) = client else {
                return;
            };
            memcache = Some(client);
        }
    }
    while !stop.load(Ordering::Relaxed) {
        let seq = {
            let mut progress = writer.progress.lock().unwrap();
            let seq = progress.acked + 1;
            progress.in_flight = Some(seq);
            seq
        };
        let value = seq.to_string();
        let slot_key = key(writer.id, seq % SLOTS);
        let ok = match writer.kind {
            Kind::RespString => redis
                .as_mut()
                .unwrap()
                .set::<_, _, ()>(&slot_key, &value)
                .is_ok(),
            Kind::RespList => redis
                .as_mut()
                .unwrap()
                .rpush::<_, _, i64>(list_key(writer.id), &value)
                .is_ok(),
            Kind::MemcacheText | Kind::MemcacheBinary => memcache
                .as_ref()
                .unwrap()
                .set(&slot_key, value.as_str(), 0)
                .is_ok(),
        };
        if !ok {
            return;
        }
        let mut progress = writer.progress.lock().unwrap();
        progress.acked = seq;
        progress.in_flight = None;
        progress.acked_at.insert(seq, Instant::now());
    }
}

/// The value of `slot` after the writes up to `last` (sequence numbers `seq % SLOTS == slot`).
fn slot_value(slot: u64, last: u64) -> Option<u64> {
    // No write to the slot yet when `last` is below its first sequence number (a kill early in
    // a cycle): checked, not wrapped.
    let candidate = last.checked_sub((last + SLOTS - slot) % SLOTS)?;
    (candidate >= 1 && candidate <= last && candidate % SLOTS == slot).then_some(candidate)
}

/// The longest prefix of the writer's writes the server holds, checked against what it must
/// hold: `None` if its state is not the result of any prefix.
fn surviving_prefix(connection: &mut redis::Connection, writer: &Writer, upto: u64) -> Option<u64> {
    match writer.kind {
        Kind::RespList => {
            let items: Vec<String> = connection.lrange(list_key(writer.id), 0, -1).unwrap();
            let expected: Vec<String> = (1..=items.len() as u64).map(|n| n.to_string()).collect();
            (items == expected && items.len() as u64 <= upto).then_some(items.len() as u64)
        }
        _ => {
            // The prefix is the largest sequence number found in any slot; every slot must
            // then hold exactly what that prefix left in it.
            let values: Vec<Option<u64>> = (0..SLOTS)
                .map(|slot| {
                    let value: Option<String> = connection.get(key(writer.id, slot)).unwrap();
                    value.map(|v| v.parse().expect("a sequence number"))
                })
                .collect();
            let last = values.iter().flatten().copied().max().unwrap_or(0);
            let consistent = (0..SLOTS).all(|slot| values[slot as usize] == slot_value(slot, last));
            (consistent && last <= upto).then_some(last)
        }
    }
}

fn start(dir: &Path, fsync: &str, cycle: usize, device: Option<&Path>) -> Server {
    let dir = dir.display().to_string();
    let mut flags = vec![
        "--appendonly".to_string(),
        "yes".into(),
        "--appendfsync".into(),
        fsync.into(),
        "--dir".into(),
        dir,
        "--auto-aof-rewrite-min-size".into(),
        "256kb".into(),
        "--auto-aof-rewrite-percentage".into(),
        "50".into(),
    ];
    if let Some(device) = device {
        flags.extend([
            "--aof-device".into(),
            device.display().to_string(),
            "--aof-device-size".into(),
            "32mb".into(),
        ]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Server::start(ENGINES[cycle % ENGINES.len()], &flags)
}

/// Kills the server `cycles` times under `fsync`; with `on_device`, the segments are on an
/// `--aof-device` file in the target directory.
fn crash_cycles(fsync: &str, cycles: usize, on_device: bool) {
    let seed = std::env::var("WORKINGDB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test, appendfsync {fsync}: {cycles} cycles, WORKINGDB_CRASH_SEED={seed}");
    let mut rng = seed;
    let mut next_random = move || {
        rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^ (z >> 27)
    };
    let dir = std::env::temp_dir().join(format!(
        "workingdb-crash-{fsync}-{on_device}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    // Not under /tmp, which may be a tmpfs without direct I/O.
    // Tests run in parallel: only the device test owns a device file.
    let device_path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crash-device-{fsync}-{}", std::process::id()));
    let device = on_device.then_some(device_path.as_path());
    if let Some(device) = device {
        let _ = std::fs::remove_file(device);
    }
    let kinds = [
        Kind::RespString,
        Kind::RespString,
        Kind::RespList,
        Kind::MemcacheText,
        Kind::MemcacheBinary,
    ];
    let writers: Vec<Writer> = kinds
        .iter()
        .enumerate()
        .map(|(id, &kind)| Writer {
            kind,
            id,
            progress: Arc::default(),
        })
        .collect();
    let (mut lost_total, mut lost_window_max) = (0u64, Duration::ZERO);
    for cycle in 0..cycles {
        let server = start(&dir, fsync, cycle, device);
        let ports = (server.port, server.memcache_port);
        let stop = AtomicBool::new(false);
        let kill_after = Duration::from_millis(150 + next_random() % 350);
        let killed_at = std::thread::scope(|scope| {
            for writer in &writers {
                let stop = &stop;
                scope.spawn(move || write_until_killed(ports, writer, stop));
            }
            std::thread::sleep(kill_after);
            server.kill();
            let killed_at = Instant::now();
            stop.store(true, Ordering::Relaxed);
            killed_at
        });

        let server = start(&dir, fsync, cycle + 1, device);
        let mut connection = server.redis();
        for writer in &writers {
            let mut progress = writer.progress.lock().unwrap();
            let upto = progress.in_flight.unwrap_or(progress.acked);
            let survived = surviving_prefix(&mut connection, writer, upto).unwrap_or_else(|| {
                panic!(
                    "cycle {cycle} ({fsync}, seed {seed}): writer {} ({:?}) is not a prefix of its writes (acked {}, in flight {:?})",
                    writer.id, writer.kind, progress.acked, progress.in_flight
                )
            });
            if fsync == "always" {
                assert!(
                    survived >= progress.acked,
                    "cycle {cycle} (seed {seed}): writer {} ({:?}) lost acknowledged writes: has {survived}, acked {}",
                    writer.id,
                    writer.kind,
                    progress.acked
                );
            } else if survived < progress.acked {
                lost_total += progress.acked - survived;
                if let Some(at) = progress.acked_at.get(&(survived + 1)) {
                    lost_window_max = lost_window_max.max(killed_at.duration_since(*at));
                }
            }
            // The next run goes on from what the server has.
            progress.acked = survived;
            progress.in_flight = None;
            progress.acked_at.clear();
        }
        drop(server);
    }
    if fsync != "always" {
        println!(
            "appendfsync {fsync}: {lost_total} acknowledged writes lost over {cycles} kills; the oldest was acknowledged {lost_window_max:?} before its kill"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(device) = device {
        let _ = std::fs::remove_file(device);
    }
}

fn cycles() -> usize {
    std::env::var("WORKINGDB_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

#[test]
fn sigkill_under_always_loses_no_acknowledged_write() {
    crash_cycles("always", cycles(), false);
}

#[test]
fn sigkill_under_everysec_loses_at_most_a_suffix() {
    crash_cycles("everysec", cycles().div_ceil(2), false);
}

#[test]
fn sigkill_under_always_with_an_aof_device_loses_no_acknowledged_write() {
    if std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").is_ok_and(|v| v.trim() != "0")
    {
        println!("skipped: io_uring is disabled on this machine");
        return;
    }
    crash_cycles("always", cycles(), true);
}
