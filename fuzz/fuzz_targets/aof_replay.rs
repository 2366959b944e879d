//! Replay of arbitrary logs: the fuzzer's bytes are written as an AOF directory on tmpfs and
//! the real replay (`persistence::replay::scan`, then `Scanned::apply_all`) loads it into real
//! keyspaces (the dashmap engine, a fixed clock). It must return an error or a state, never
//! panic or hang.
//!
//! Input: a mode byte, a split byte, then the log bytes. Mode bits: 1, repair every record's
//! checksum (see `workingdb_fuzz::repair_checksums`) so replay gets past the CRC to the
//! effects; 2, `aof-load-truncated`; 4, `aof-load-truncate-corrupt`; 8, two parts, a base and
//! an incremental segment (split where the split byte says) under a manifest, else one
//! segment and no manifest (replay writes the first one); 16, one database instead of two.
//!
//! Asserts, when replay succeeds:
//! * it never accepted a record with a bad checksum: every record it kept, in every part,
//!   checks out under this crate's own CRC-64/NVME, and the keyspace records kept (all but
//!   `SWAPDB`'s database maps) are as many as it reports;
//! * what it cut, it cut on disk: the active segment is now `active_bytes` long, and
//!   `cut_bytes` more than that was there before;
//! * a second replay of what is left cuts nothing and finds the same records, highest
//!   version and keys.
#![no_main]

use keyspace::{Effect, Keyspace, ManualClock};
use libfuzzer_sys::fuzz_target;
use persistence::manifest::{self, Kind, Manifest, Part};
use persistence::replay::{self, LoadOptions, Loaded};
use persistence::{effect, record};
use std::path::Path;
use std::sync::LazyLock;
use workingdb_fuzz::{checksum_holds, repair_checksums, Map, ScratchDir, NOW_MS};

const FILE_NAME: &str = "appendonly.aof";

static SCRATCH: LazyLock<ScratchDir> = LazyLock::new(|| ScratchDir::new("aof-replay"));

/// Replays `dir` into `databases` fresh keyspaces: what replay said, and each one's key count.
fn replay(dir: &Path, options: LoadOptions, databases: usize) -> Option<(Loaded, Vec<usize>)> {
    let keyspaces: Vec<Keyspace<Map>> = (0..databases)
        .map(|_| Keyspace::with_clock(<Map as engine::Engine>::new(), ManualClock::new(NOW_MS)))
        .collect();
    let scanned = replay::scan(dir, FILE_NAME, options, None).ok()?;
    let references: Vec<&Keyspace<Map>> = keyspaces.iter().collect();
    let loaded = scanned.apply_all(&references).ok()?;
    Some((loaded, keyspaces.iter().map(Keyspace::len).collect()))
}

/// Keyspace records among the records from the start of `bytes` up to `end`, which must be a
/// record boundary; every one of them must check out (by this crate's reading). `SWAPDB`'s
/// database-map records are kept but are not keyspace records (`Loaded::records` counts the
/// records applied to keyspaces; the map of the highest epoch is reported on its own), so
/// they are checked and not counted. Counting them was this target's own error, found by
/// the 2026-12-06 long run.
fn count_checked(bytes: &[u8], end: usize) -> u64 {
    let mut offset = 0;
    let mut count = 0;
    while offset < end {
        let size = checksum_holds(&bytes[offset..end])
            .unwrap_or_else(|| panic!("replay kept a record at {offset} whose checksum fails"));
        let (record, _) = record::decode(&bytes[offset..end])
            .unwrap_or_else(|defect| panic!("replay kept a record at {offset}: {defect:?}"));
        let database_map = matches!(effect::decode(&record), Ok(Effect::DatabaseMap { .. }));
        offset += size;
        count += u64::from(!database_map);
    }
    count
}

fuzz_target!(|input: &[u8]| {
    let [mode, split, log @ ..] = input else {
        return;
    };
    let options = LoadOptions {
        load_truncated: mode & 2 != 0,
        truncate_corrupt: mode & 4 != 0,
    };
    let databases = if mode & 16 != 0 { 1 } else { 2 };
    let (mut base, mut active) = if mode & 8 != 0 {
        let at = log.len() * usize::from(*split) / 255;
        (Some(log[..at].to_vec()), log[at..].to_vec())
    } else {
        (None, log.to_vec())
    };
    if mode & 1 != 0 {
        if let Some(base) = base.as_mut() {
            repair_checksums(base);
        }
        repair_checksums(&mut active);
    }

    let dir = SCRATCH.fresh();
    let active_name = manifest::part_name(FILE_NAME, 2, Kind::Incremental);
    if let Some(base) = &base {
        let base_name = manifest::part_name(FILE_NAME, 1, Kind::Base);
        std::fs::write(dir.join(&base_name), base).expect("write the base");
        std::fs::write(dir.join(&active_name), &active).expect("write the segment");
        let manifest = Manifest {
            parts: vec![
                Part {
                    name: base_name,
                    seq: 1,
                    kind: Kind::Base,
                },
                Part {
                    name: active_name.clone(),
                    seq: 2,
                    kind: Kind::Incremental,
                },
            ],
        };
        manifest::store(dir, FILE_NAME, &manifest).expect("write the manifest");
    } else {
        // No manifest: replay starts a fresh log, whose first segment is seq 1, and finds
        // these bytes already in it.
        let first = manifest::part_name(FILE_NAME, 1, Kind::Incremental);
        std::fs::write(dir.join(&first), &active).expect("write the segment");
    }
    let active_path = if base.is_some() {
        dir.join(&active_name)
    } else {
        dir.join(manifest::part_name(FILE_NAME, 1, Kind::Incremental))
    };

    let Some((loaded, keys)) = replay(dir, options, databases) else {
        return;
    };
    // Nothing with a bad checksum was kept, in the base (all of it) or the active segment
    // (what is left of it).
    let base_records = base
        .as_ref()
        .map_or(0, |base| count_checked(base, base.len()));
    let kept = usize::try_from(loaded.active_bytes).expect("fits");
    assert!(kept <= active.len());
    let active_records = count_checked(&active, kept);
    assert_eq!(loaded.records, base_records + active_records);
    assert_eq!(loaded.cut_bytes, (active.len() - kept) as u64);
    let on_disk = std::fs::metadata(&active_path)
        .expect("the segment is still there")
        .len();
    assert_eq!(on_disk, loaded.active_bytes, "the cut is not on disk");

    // Replaying what is left finds the same state and cuts nothing.
    let (again, keys_again) =
        replay(dir, options, databases).expect("a log replay accepted loads again");
    assert_eq!(again.cut_bytes, 0);
    assert_eq!(
        (again.records, again.max_version, again.active_bytes),
        (loaded.records, loaded.max_version, loaded.active_bytes)
    );
    assert_eq!(keys_again, keys);
});
