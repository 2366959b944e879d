//! Replay against damaged logs: cut at every byte offset, a single bit flipped anywhere,
//! zeros and garbage after the last record, damage in the base. Every case either loads
//! exactly the records before the damage or refuses to start naming the file and offset;
//! none loads a damaged record.

mod common;

use common::{dump, Held, TempDir};
use engine::{Engine, LockFree, Meta};
use keyspace::{Effect, End, Keyspace, ListPosition, Value};
use persistence::effect;
use persistence::manifest::{self, Kind, Manifest, Part};
use persistence::replay::{self, LoadError, LoadOptions};
use std::collections::BTreeMap;
use std::path::Path;

const FILE: &str = "appendonly.aof";
const FAR: u64 = 4_000_000_000_000;

fn effects() -> Vec<Effect<'static>> {
    let meta = Meta {
        expire_at_ms: 0,
        flags: 5,
    };
    vec![
        Effect::PutString {
            key: b"a",
            value: b"1",
            meta,
        },
        Effect::ListPush {
            key: b"l",
            end: End::Right,
            elements: &[b"x", b"y", b"z"],
        },
        Effect::SetMeta {
            key: b"a",
            meta: Meta {
                expire_at_ms: FAR,
                flags: 5,
            },
        },
        Effect::ListPop {
            key: b"l",
            end: End::Left,
            count: 1,
        },
        Effect::PutString {
            key: b"b",
            value: b"hello",
            meta: Meta::default(),
        },
        Effect::Delete { key: b"b" },
        Effect::ListInsert {
            key: b"l",
            position: ListPosition::After,
            pivot: b"y",
            element: b"w",
        },
        Effect::PutString {
            key: b"c",
            value: &[0xAB; 100],
            meta: Meta::default(),
        },
        Effect::ListSet {
            key: b"l",
            index: 0,
            element: b"Y",
        },
        Effect::ListRemove {
            key: b"l",
            count: 0,
            element: b"w",
        },
        Effect::ListTrim {
            key: b"l",
            start: 0,
            stop: 0,
        },
        Effect::PutList {
            key: b"m",
            meta: Meta::default(),
            elements: &[b"1", b"2"],
        },
        Effect::Flush,
        Effect::PutString {
            key: b"d",
            value: b"last",
            meta: Meta::default(),
        },
    ]
}

/// The log of `effects()` (versions 1, 2, ...) and the offset where each record ends.
fn log_bytes() -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for (index, effect) in effects().iter().enumerate() {
        effect::encode(&mut bytes, index as u64 + 1, 1_700_000_000_000, effect).unwrap();
        ends.push(bytes.len());
    }
    (bytes, ends)
}

/// The state after the first `count` effects.
fn state_after(count: usize) -> BTreeMap<Vec<u8>, Held> {
    let keyspace = Keyspace::new(LockFree::<Value>::new());
    for effect in &effects()[..count] {
        keyspace.apply(effect).unwrap();
    }
    dump(&keyspace)
}

fn write_log(dir: &Path, base: Option<&[u8]>, incremental: &[u8]) {
    let mut parts = Vec::new();
    if let Some(base) = base {
        let name = manifest::part_name(FILE, 1, Kind::Base);
        std::fs::write(dir.join(&name), base).unwrap();
        parts.push(Part {
            name,
            seq: 1,
            kind: Kind::Base,
        });
    }
    let name = manifest::part_name(FILE, 1, Kind::Incremental);
    std::fs::write(dir.join(&name), incremental).unwrap();
    parts.push(Part {
        name,
        seq: 1,
        kind: Kind::Incremental,
    });
    manifest::store(dir, FILE, &Manifest { parts }).unwrap();
}

fn active_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(manifest::part_name(FILE, 1, Kind::Incremental)))
        .unwrap()
        .len()
}

fn load(dir: &Path, options: LoadOptions) -> Result<BTreeMap<Vec<u8>, Held>, LoadError> {
    let keyspace = Keyspace::new(LockFree::<Value>::new());
    replay::load(dir, FILE, &keyspace, options).map(|_| dump(&keyspace))
}

#[test]
fn the_whole_log_replays_to_the_state_of_its_effects() {
    let dir = TempDir::new("replay-whole");
    let (bytes, _) = log_bytes();
    write_log(&dir.0, None, &bytes);
    let keyspace = Keyspace::new(LockFree::<Value>::new());
    let loaded = replay::load(&dir.0, FILE, &keyspace, LoadOptions::default()).unwrap();
    assert_eq!(loaded.records, effects().len() as u64);
    assert_eq!(loaded.cut_bytes, 0);
    assert_eq!(loaded.max_version, effects().len() as u64);
    // New writes sort after everything on disk.
    assert!(keyspace.engine().versions().current() >= loaded.max_version);
    let state = dump(&keyspace);
    assert_eq!(state, state_after(effects().len()));
    // The flush near the end removed a, l, m; only d is left.
    assert_eq!(state.keys().collect::<Vec<_>>(), vec![b"d"]);
    // And before the flush: a with its new TTL, l trimmed to one element, m.
    let before_flush = state_after(effects().len() - 2);
    assert_eq!(
        before_flush.get(&b"a"[..]),
        Some(&Held::Str(
            b"1".to_vec(),
            Meta {
                expire_at_ms: FAR,
                flags: 5
            }
        ))
    );
    assert_eq!(
        before_flush.get(&b"l"[..]),
        Some(&Held::List(vec![b"Y".to_vec()], Meta::default()))
    );
}

#[test]
fn a_cut_at_every_byte_offset_loads_the_whole_records_before_it() {
    let (bytes, ends) = log_bytes();
    let dir = TempDir::new("replay-cut");
    for cut in 0..=bytes.len() {
        write_log(&dir.0, None, &bytes[..cut]);
        let whole = ends.iter().filter(|&&end| end <= cut).count();
        let boundary = if whole == 0 { 0 } else { ends[whole - 1] };
        let keyspace = Keyspace::new(LockFree::<Value>::new());
        let loaded = replay::load(&dir.0, FILE, &keyspace, LoadOptions::default())
            .unwrap_or_else(|error| panic!("cut at {cut}: {error}"));
        assert_eq!(dump(&keyspace), state_after(whole), "cut at {cut}");
        assert_eq!(loaded.records, whole as u64, "cut at {cut}");
        assert_eq!(loaded.active_bytes, boundary as u64, "cut at {cut}");
        assert_eq!(loaded.cut_bytes, (cut - boundary) as u64, "cut at {cut}");
        assert_eq!(
            active_len(&dir.0),
            boundary as u64,
            "the torn tail is cut off the file"
        );

        // Without aof-load-truncated a torn tail refuses the start, naming where.
        if cut != boundary {
            write_log(&dir.0, None, &bytes[..cut]);
            let options = LoadOptions {
                load_truncated: false,
                truncate_corrupt: false,
            };
            match load(&dir.0, options) {
                Err(LoadError::Corrupt { offset, file, .. }) => {
                    assert_eq!(offset, boundary as u64);
                    assert!(file.ends_with(manifest::part_name(FILE, 1, Kind::Incremental)));
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_single_bit_flip_anywhere_is_caught() {
    let (bytes, ends) = log_bytes();
    let last = ends.len() - 1;
    let dir = TempDir::new("replay-flip");
    let starts: Vec<usize> = std::iter::once(0)
        .chain(ends[..last].iter().copied())
        .collect();
    for position in 0..bytes.len() {
        let record = ends.iter().position(|&end| position < end).unwrap();
        // Every bit of the first and the last record; one bit per byte elsewhere.
        let bits: Vec<u8> = if record == 0 || record == last {
            (0..8).collect()
        } else {
            vec![(position % 8) as u8]
        };
        for bit in bits {
            let mut damaged = bytes.clone();
            damaged[position] ^= 1 << bit;
            let context = format!("bit {bit} of byte {position} (record {record})");

            write_log(&dir.0, None, &damaged);
            let result = load(&dir.0, LoadOptions::default());
            if record == last {
                // Nothing valid follows: a torn tail, cut with a warning.
                let state = result.unwrap_or_else(|error| panic!("{context}: {error}"));
                assert_eq!(state, state_after(last), "{context}");
                assert_eq!(active_len(&dir.0), starts[last] as u64, "{context}");
            } else {
                match result {
                    Err(LoadError::Corrupt { offset, .. }) => {
                        assert_eq!(offset, starts[record] as u64, "{context}")
                    }
                    other => panic!("{context}: loaded {other:?}"),
                }
                // Asked to, replay cuts there and loads what came before.
                write_log(&dir.0, None, &damaged);
                let options = LoadOptions {
                    load_truncated: true,
                    truncate_corrupt: true,
                };
                let state = load(&dir.0, options).unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(state, state_after(record), "{context}");
                assert_eq!(active_len(&dir.0), starts[record] as u64, "{context}");
            }
        }
    }
}

#[test]
fn zeros_or_garbage_after_the_last_record_are_a_torn_tail() {
    let (bytes, ends) = log_bytes();
    let dir = TempDir::new("replay-tail");
    for tail in [
        vec![0u8; 4096],
        b"garbage that is not a record".to_vec(),
        vec![0xFF; 7],
    ] {
        let mut damaged = bytes.clone();
        damaged.extend_from_slice(&tail);
        write_log(&dir.0, None, &damaged);
        let state = load(&dir.0, LoadOptions::default()).unwrap();
        assert_eq!(state, state_after(ends.len()));
        assert_eq!(active_len(&dir.0), bytes.len() as u64);
    }
}

#[test]
fn zeros_in_the_middle_are_corruption() {
    let (bytes, ends) = log_bytes();
    let dir = TempDir::new("replay-hole");
    let mut damaged = bytes.clone();
    damaged[ends[2]..ends[4]].fill(0);
    write_log(&dir.0, None, &damaged);
    match load(&dir.0, LoadOptions::default()) {
        Err(LoadError::Corrupt { offset, .. }) => assert_eq!(offset, ends[2] as u64),
        other => panic!("{other:?}"),
    }
}

#[test]
fn damage_in_the_base_refuses_to_start_even_when_asked_to_truncate() {
    let (bytes, ends) = log_bytes();
    let dir = TempDir::new("replay-base");
    let base = &bytes[..ends[5]];
    // The incremental segment: the rest, with versions after the base's.
    let incremental = &bytes[ends[5]..];
    write_log(&dir.0, Some(base), incremental);
    assert_eq!(
        load(&dir.0, LoadOptions::default()).unwrap(),
        state_after(ends.len())
    );

    let mut torn = base.to_vec();
    torn.truncate(base.len() - 3);
    write_log(&dir.0, Some(&torn), incremental);
    let options = LoadOptions {
        load_truncated: true,
        truncate_corrupt: true,
    };
    match load(&dir.0, options) {
        Err(LoadError::Corrupt { file, offset, .. }) => {
            assert!(file.ends_with(manifest::part_name(FILE, 1, Kind::Base)));
            assert_eq!(offset, ends[4] as u64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_part_or_a_bad_manifest_refuses_to_start() {
    let dir = TempDir::new("replay-missing");
    let (bytes, _) = log_bytes();
    write_log(&dir.0, None, &bytes);
    std::fs::remove_file(dir.0.join(manifest::part_name(FILE, 1, Kind::Incremental))).unwrap();
    let error = load(&dir.0, LoadOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("appendonly.aof.1.incr.wdb"),
        "{error}"
    );

    std::fs::write(
        dir.0.join(manifest::manifest_name(FILE)),
        "file x seq 1 type q\n",
    )
    .unwrap();
    let error = load(&dir.0, LoadOptions::default()).unwrap_err();
    assert!(error.to_string().contains("manifest"), "{error}");
}

#[test]
fn records_apply_in_version_order_whatever_their_file_order() {
    let dir = TempDir::new("replay-order");
    let mut bytes = Vec::new();
    let put = |value: &'static [u8]| Effect::PutString {
        key: b"k",
        value,
        meta: Meta::default(),
    };
    // Two threads wrote k; the later version reached the file first.
    effect::encode(&mut bytes, 7, 0, &put(b"second")).unwrap();
    effect::encode(&mut bytes, 3, 0, &put(b"first")).unwrap();
    // A push onto a list created by a record that sits after it in the file.
    let push = Effect::ListPush {
        key: b"l",
        end: End::Right,
        elements: &[b"b"],
    };
    effect::encode(&mut bytes, 9, 0, &push).unwrap();
    let create = Effect::ListPush {
        key: b"l",
        end: End::Right,
        elements: &[b"a"],
    };
    effect::encode(&mut bytes, 8, 0, &create).unwrap();
    write_log(&dir.0, None, &bytes);
    let state = load(&dir.0, LoadOptions::default()).unwrap();
    assert_eq!(
        state.get(&b"k"[..]),
        Some(&Held::Str(b"second".to_vec(), Meta::default()))
    );
    assert_eq!(
        state.get(&b"l"[..]),
        Some(&Held::List(
            vec![b"a".to_vec(), b"b".to_vec()],
            Meta::default()
        ))
    );
}

#[test]
fn a_base_record_wins_over_the_segment_record_of_the_same_version() {
    // The rewrite scanned l after the push of version 5 and wrote it into the base as a whole
    // list with version 5; the push itself is also in the new segment. Applying the push after
    // the base would duplicate the element.
    let dir = TempDir::new("replay-tie");
    let mut base = Vec::new();
    let whole = Effect::PutList {
        key: b"l",
        meta: Meta::default(),
        elements: &[b"a", b"b"],
    };
    effect::encode(&mut base, 5, 0, &whole).unwrap();
    let mut incremental = Vec::new();
    let push = Effect::ListPush {
        key: b"l",
        end: End::Right,
        elements: &[b"b"],
    };
    effect::encode(&mut incremental, 5, 0, &push).unwrap();
    let later = Effect::ListPush {
        key: b"l",
        end: End::Right,
        elements: &[b"c"],
    };
    effect::encode(&mut incremental, 6, 0, &later).unwrap();
    write_log(&dir.0, Some(&base), &incremental);
    let state = load(&dir.0, LoadOptions::default()).unwrap();
    assert_eq!(
        state.get(&b"l"[..]),
        Some(&Held::List(
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
            Meta::default()
        ))
    );
}

#[test]
fn parts_the_manifest_does_not_name_are_removed() {
    let dir = TempDir::new("replay-orphans");
    let (bytes, ends) = log_bytes();
    write_log(&dir.0, None, &bytes);
    // What a crash inside a rewrite leaves: a base never named, a segment no longer named,
    // a temporary manifest. And a file that is not ours.
    for name in [
        "appendonly.aof.2.base.wdb",
        "appendonly.aof.0.incr.wdb",
        "temp-appendonly.aof.manifest",
        "notes.txt",
    ] {
        std::fs::write(dir.0.join(name), b"leftover").unwrap();
    }
    assert_eq!(
        load(&dir.0, LoadOptions::default()).unwrap(),
        state_after(ends.len())
    );
    let mut left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![
            "appendonly.aof.1.incr.wdb",
            "appendonly.aof.manifest",
            "notes.txt"
        ]
    );
}

#[test]
fn a_version_the_clock_cannot_count_on_from_is_corruption() {
    // Found by the aof_replay fuzz target: a record of version u64::MAX moved the version
    // clock there, and the first write after the load overflowed it.
    let (bytes, ends) = log_bytes();
    let dir = TempDir::new("replay-version-max");
    let mut damaged = bytes.clone();
    effect::encode(
        &mut damaged,
        u64::MAX,
        1,
        &Effect::Delete {
            key: b"late".as_slice(),
        },
    )
    .unwrap();
    write_log(&dir.0, None, &damaged);
    assert!(matches!(
        load(&dir.0, LoadOptions::default()),
        Err(LoadError::Corrupt { .. })
    ));
    let options = LoadOptions {
        truncate_corrupt: true,
        ..LoadOptions::default()
    };
    let keyspace = Keyspace::new(LockFree::<Value>::new());
    replay::load(&dir.0, FILE, &keyspace, options).unwrap();
    assert_eq!(dump(&keyspace), state_after(ends.len()));
    assert_eq!(active_len(&dir.0), bytes.len() as u64);
    // The clock has room: a write after the load draws a version.
    assert!(keyspace.engine().versions().next() < u64::MAX);
}

/// SWAPDB's map records change no keyspace; the one of the highest epoch is handed back,
/// wherever it sits (the base's map can be older than a swap in the segment, or the same).
#[test]
fn the_database_map_of_the_highest_epoch_is_kept() {
    let dir = TempDir::new("replay-database-map");
    let map = |bytes: &mut Vec<u8>, epoch: u64, map: &[u8]| {
        effect::encode(bytes, epoch, 0, &Effect::DatabaseMap { map }).unwrap();
    };
    let put = |bytes: &mut Vec<u8>, version: u64, key: &'static [u8]| {
        let effect = Effect::PutString {
            key,
            value: b"v",
            meta: Meta::default(),
        };
        effect::encode(bytes, version, 0, &effect).unwrap();
    };
    let mut base = Vec::new();
    map(&mut base, 2, &[1, 0, 2]);
    put(&mut base, 10, b"a");
    let mut segment = Vec::new();
    map(&mut segment, 4, &[2, 0, 1]);
    put(&mut segment, 11, b"b");
    map(&mut segment, 3, &[0, 2, 1]);
    write_log(&dir.0, Some(&base), &segment);
    let keyspace = Keyspace::new(LockFree::<Value>::new());
    let loaded = replay::load(&dir.0, FILE, &keyspace, LoadOptions::default()).unwrap();
    assert_eq!(loaded.database_map, Some((4, vec![2, 0, 1])));
    // Only the two keys are records of the keyspace; the maps' epochs are not versions.
    assert_eq!(loaded.records, 2);
    assert_eq!(loaded.max_version, 11);
    assert_eq!(dump(&keyspace).len(), 2);
    // A log without a swap has no map.
    let mut plain = Vec::new();
    put(&mut plain, 1, b"a");
    write_log(&dir.0, None, &plain);
    let keyspace = Keyspace::new(LockFree::<Value>::new());
    let loaded = replay::load(&dir.0, FILE, &keyspace, LoadOptions::default()).unwrap();
    assert_eq!(loaded.database_map, None);
}
