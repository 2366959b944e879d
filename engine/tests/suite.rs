//! Behaviour tests of the [`Engine`] contract, run against every back-end.
//!
//! Each test is one generic function over `E: Engine`, instantiated per back-end by
//! `for_each_engine!`. The tests are single-threaded: they pin down what one caller sees
//! (return values, versions, metadata, scans, resizing); `stress.rs` covers concurrency and
//! `model.rs` compares random operation sequences with `std::collections::HashMap`.

#![cfg(not(loom))]

#[macro_use]
mod common;

use common::{full_scan, quiet_scan, sized, snapshot, Value};
use engine::{Decision, Engine, Meta, Updated, VersionClock};
use std::collections::{HashMap, HashSet};

/// Metadata that differs from the default in every field, so a dropped field shows.
const SOME_META: Meta = Meta {
    expire_at_ms: 1_700_000_000_123,
    flags: 0xDEAD_BEEF,
};

/// The scan counts the scan tests try: the smallest, odd ones, Redis's default (10), and ones
/// larger than any table here, up to `usize::MAX` (a hint must not overflow the cursor maths).
const SCAN_COUNTS: [usize; 8] = [1, 2, 3, 7, 10, 64, 1000, usize::MAX];

fn key(index: usize) -> Vec<u8> {
    format!("key:{index}").into_bytes()
}

fn value(index: usize) -> Value {
    format!("value:{index}").into_bytes()
}

/// Asserts that `version` is a fresh draw: above `previous` and no later than the clock.
fn assert_fresh<E: Engine>(engine: &E, version: u64, previous: u64, what: &str) {
    assert!(
        version > previous,
        "{}: {what} installed version {version}, not above {previous}",
        E::NAME
    );
    assert!(
        version <= engine.versions().current(),
        "{}: {what} installed version {version}, above the clock's {}",
        E::NAME,
        engine.versions().current()
    );
}

for_each_engine!(get_insert_remove_len, get_insert_remove_len);
fn get_insert_remove_len<E: Engine<Value = Value>>() {
    for engine in [
        E::new(),
        E::with_capacity(0),
        E::with_capacity(1),
        E::with_capacity(1000),
    ] {
        assert_eq!(engine.len(), 0);
        assert!(engine.is_empty());
        assert_eq!(
            engine.get(b"a", |_| unreachable!("absent keys are not read")),
            None
        );
        assert_eq!(engine.remove(b"a"), None);

        let a1 = engine.insert(b"a", b"one".to_vec(), Meta::default());
        assert_eq!(a1.replaced, None, "insert of an absent key");
        let a1 = a1.version;
        assert_fresh(&engine, a1, 0, "insert");
        assert_eq!(engine.len(), 1);
        assert!(!engine.is_empty());
        assert_eq!(
            snapshot(&engine, b"a"),
            Some((a1, Meta::default(), b"one".to_vec()))
        );
        // `get` hands back whatever the closure returns.
        assert_eq!(engine.get(b"a", |entry| entry.value.len()), Some(3));

        let b1 = engine.insert(b"b", b"two".to_vec(), SOME_META).version;
        assert_fresh(&engine, b1, a1, "insert");
        assert_eq!(engine.len(), 2);

        // A blind insert over a present key replaces it with a newer version.
        let a2 = engine.insert(b"a", b"three".to_vec(), SOME_META);
        assert_eq!(
            a2.replaced,
            Some(Meta::default()),
            "a replacing insert reports the replaced entry's metadata"
        );
        let a2 = a2.version;
        assert_fresh(&engine, a2, b1, "replacing insert");
        assert_eq!(engine.len(), 2);
        assert_eq!(
            snapshot(&engine, b"a"),
            Some((a2, SOME_META, b"three".to_vec()))
        );
        assert_eq!(
            snapshot(&engine, b"b"),
            Some((b1, SOME_META, b"two".to_vec()))
        );

        // A removal draws a version too, and a second removal finds nothing.
        let removed = engine.remove(b"a").expect("a is present");
        assert_fresh(&engine, removed, a2, "remove");
        assert_eq!(engine.get(b"a", |_| ()), None);
        assert_eq!(engine.len(), 1);
        let clock = engine.versions().current();
        assert_eq!(engine.remove(b"a"), None);
        assert_eq!(
            engine.versions().current(),
            clock,
            "removing an absent key drew a version"
        );

        // A removed key can come back, with a version above its removal's.
        let a3 = engine.insert(b"a", b"four".to_vec(), Meta::default());
        assert_eq!(a3.replaced, None, "insert after remove");
        let a3 = a3.version;
        assert_fresh(&engine, a3, removed, "insert after remove");
        assert_eq!(
            snapshot(&engine, b"a"),
            Some((a3, Meta::default(), b"four".to_vec()))
        );
        assert_eq!(engine.len(), 2);
        assert!(engine.remove(b"b").is_some());
        assert!(engine.remove(b"a").is_some());
        assert_eq!(engine.len(), 0);
        assert!(engine.is_empty());
    }
}

for_each_engine!(update_on_absent_key, update_on_absent_key);
fn update_on_absent_key<E: Engine<Value = Value>>() {
    let engine = E::new();
    let clock = engine.versions().current();

    // Keep: the output comes back, no version is drawn, the key stays absent.
    let updated = engine.update(b"k", |entry| {
        assert!(entry.is_none());
        (Decision::Keep, "kept")
    });
    assert_eq!(
        updated,
        Updated {
            output: "kept",
            version: None
        }
    );
    assert_eq!(engine.versions().current(), clock, "Keep drew a version");
    assert_eq!(engine.get(b"k", |_| ()), None);
    assert_eq!(engine.len(), 0);

    // Remove on an absent key is Keep.
    let updated = engine.update(b"k", |entry| {
        assert!(entry.is_none());
        (Decision::Remove, 7)
    });
    assert_eq!(
        updated,
        Updated {
            output: 7,
            version: None
        }
    );
    assert_eq!(
        engine.versions().current(),
        clock,
        "removing an absent key drew a version"
    );
    assert_eq!(engine.len(), 0);

    // Replace inserts.
    let updated = engine.update(b"k", |entry| {
        assert!(entry.is_none());
        (
            Decision::Replace {
                value: b"new".to_vec(),
                meta: SOME_META,
            },
            'r',
        )
    });
    assert_eq!(updated.output, 'r');
    let version = updated.version.expect("Replace installs a version");
    assert_fresh(&engine, version, clock, "update Replace");
    assert_eq!(
        snapshot(&engine, b"k"),
        Some((version, SOME_META, b"new".to_vec()))
    );
    assert_eq!(engine.len(), 1);
}

for_each_engine!(update_on_present_key, update_on_present_key);
fn update_on_present_key<E: Engine<Value = Value>>() {
    let engine = E::new();
    let inserted = engine.insert(b"k", b"old".to_vec(), SOME_META).version;
    engine.insert(b"other", b"untouched".to_vec(), Meta::default());
    let clock = engine.versions().current();

    // Keep: the closure sees the entry as installed; nothing changes.
    let updated = engine.update(b"k", |entry| {
        let entry = entry.expect("k is present");
        (
            Decision::Keep,
            (entry.version, entry.meta, entry.value.clone()),
        )
    });
    assert_eq!(updated.output, (inserted, SOME_META, b"old".to_vec()));
    assert_eq!(updated.version, None);
    assert_eq!(engine.versions().current(), clock, "Keep drew a version");
    assert_eq!(
        snapshot(&engine, b"k"),
        Some((inserted, SOME_META, b"old".to_vec()))
    );

    // Replace: the closure's output is what it computed from the old entry.
    let new_meta = Meta {
        expire_at_ms: 5,
        flags: 6,
    };
    let updated = engine.update(b"k", |entry| {
        let old = entry.expect("k is present").value.clone();
        let mut new = old.clone();
        new.extend_from_slice(b"+new");
        (
            Decision::Replace {
                value: new,
                meta: new_meta,
            },
            old,
        )
    });
    assert_eq!(updated.output, b"old".to_vec());
    let replaced = updated.version.expect("Replace installs a version");
    assert_fresh(&engine, replaced, clock, "update Replace");
    assert_eq!(
        snapshot(&engine, b"k"),
        Some((replaced, new_meta, b"old+new".to_vec()))
    );
    assert_eq!(engine.len(), 2);

    // Remove: a version is drawn and the key is gone.
    let updated = engine.update(b"k", |entry| {
        let entry = entry.expect("k is present");
        (Decision::Remove, entry.version)
    });
    assert_eq!(updated.output, replaced);
    let removed = updated
        .version
        .expect("removing a present key draws a version");
    assert_fresh(&engine, removed, replaced, "update Remove");
    assert_eq!(engine.get(b"k", |_| ()), None);
    assert_eq!(engine.len(), 1);

    // The neighbour was never touched.
    assert_eq!(
        engine.get(b"other", |entry| entry.value.clone()),
        Some(b"untouched".to_vec())
    );
}

for_each_engine!(
    versions_increase_and_come_from_the_clock,
    versions_from_the_clock
);
fn versions_from_the_clock<E: Engine<Value = Value>>() {
    let engine = E::new();
    let mut last = engine.versions().current();
    let mut per_key: HashMap<Vec<u8>, u64> = HashMap::new();
    let rounds = sized(20, 500, 5000);
    for round in 0..rounds {
        let key = key(round % 7);
        let before = engine.versions().current();
        let version = match round % 4 {
            0 => Some(engine.insert(&key, value(round), Meta::default()).version),
            1 => {
                engine
                    .update(&key, |_| {
                        (
                            Decision::Replace {
                                value: value(round),
                                meta: Meta::default(),
                            },
                            (),
                        )
                    })
                    .version
            }
            2 => engine.remove(&key),
            _ => {
                engine
                    .update(&key, |entry| (Decision::Remove, entry.is_some()))
                    .version
            }
        };
        match version {
            Some(version) => {
                // One thread: every draw is above every earlier draw, for any key.
                assert_fresh(&engine, version, last, "a write");
                assert!(version > before);
                if let Some(previous) = per_key.insert(key.clone(), version) {
                    assert!(version > previous);
                }
                if let Some(stored) = engine.get(&key, |entry| entry.version) {
                    assert_eq!(
                        stored,
                        version,
                        "{}: the entry's version is not the one returned",
                        E::NAME
                    );
                }
                last = version;
            }
            None => assert_eq!(
                engine.versions().current(),
                before,
                "a no-op drew a version"
            ),
        }
    }
    assert!(engine.versions().current() >= last);
}

for_each_engine!(meta_round_trips, meta_round_trips);
fn meta_round_trips<E: Engine<Value = Value>>() {
    let metas = [
        Meta::default(),
        SOME_META,
        Meta {
            expire_at_ms: u64::MAX,
            flags: u32::MAX,
        },
        Meta {
            expire_at_ms: 1,
            flags: 0,
        },
        Meta {
            expire_at_ms: 0,
            flags: 1,
        },
    ];
    let engine = E::new();
    for (index, meta) in metas.iter().enumerate() {
        engine.insert(&key(index), value(index), *meta);
    }
    for (index, meta) in metas.iter().enumerate() {
        assert_eq!(engine.get(&key(index), |entry| entry.meta), Some(*meta));
    }
    // Through a scan as well.
    let scanned = quiet_scan(&engine, 10);
    for (index, meta) in metas.iter().enumerate() {
        assert_eq!(scanned[&key(index)].1, *meta);
    }
    // Through update: Replace installs the closure's metadata, Keep keeps the old.
    for (index, meta) in metas.iter().enumerate() {
        let next = metas[(index + 1) % metas.len()];
        let updated = engine.update(&key(index), |entry| {
            (
                Decision::Replace {
                    value: value(index),
                    meta: next,
                },
                entry.map(|entry| entry.meta),
            )
        });
        assert_eq!(updated.output, Some(*meta));
        let kept = engine.update(&key(index), |entry| {
            (Decision::Keep, entry.map(|entry| entry.meta))
        });
        assert_eq!(kept.output, Some(next));
        assert_eq!(engine.get(&key(index), |entry| entry.meta), Some(next));
    }
}

for_each_engine!(
    access_clock_is_shared_in_place,
    access_clock_is_shared_in_place
);
fn access_clock_is_shared_in_place<E: Engine<Value = Value>>() {
    let engine = E::new();
    engine.insert(b"k", value(0), Meta::default());
    // Readers record accesses in place, and the next reader sees them.
    assert_eq!(engine.get(b"k", |entry| entry.access.get()), Some(0));
    engine.get(b"k", |entry| entry.access.set(42));
    assert_eq!(engine.get(b"k", |entry| entry.access.get()), Some(42));
    let seen = engine.update(b"k", |entry| {
        (Decision::Keep, entry.map(|entry| entry.access.get()))
    });
    assert_eq!(seen.output, Some(42));
}

for_each_engine!(unusual_keys_and_values, unusual_keys_and_values);
fn unusual_keys_and_values<E: Engine<Value = Value>>() {
    let engine = E::new();
    let mut expected: HashMap<Vec<u8>, Value> = HashMap::new();
    let mut put = |key: Vec<u8>, value: Value| {
        engine.insert(&key, value.clone(), Meta::default());
        assert!(
            expected.insert(key, value).is_none(),
            "the test inserted a key twice"
        );
    };

    // The empty key, with an empty value.
    put(Vec::new(), Vec::new());
    // Every one-byte key.
    for byte in 0..=u8::MAX {
        put(vec![byte], vec![byte; 3]);
    }
    // Keys that differ only by trailing or embedded zero bytes or by length.
    put(b"a\0".to_vec(), b"a0".to_vec());
    put(b"a\0\0".to_vec(), b"a00".to_vec());
    put(b"\0a".to_vec(), b"0a".to_vec());
    put(vec![0; 8], b"eight zeros".to_vec());
    put(vec![0; 9], b"nine zeros".to_vec());
    // Every byte value in one key, in both orders.
    put((0..=u8::MAX).collect(), b"ascending".to_vec());
    put((0..=u8::MAX).rev().collect(), b"descending".to_vec());
    // A long key and a 1 MiB value (smaller under Miri).
    let long_key: Vec<u8> = (0..sized(1000, 64 * 1024, 64 * 1024))
        .map(|i| (i % 251) as u8)
        .collect();
    put(long_key.clone(), b"long key".to_vec());
    let big_value: Value = (0..sized(4096, 1 << 20, 1 << 20))
        .map(|i| (i % 253) as u8)
        .collect();
    put(b"big".to_vec(), big_value.clone());

    assert_eq!(engine.len(), expected.len());
    for (key, value) in &expected {
        assert_eq!(
            engine.get(key, |entry| entry.value.clone()).as_ref(),
            Some(value),
            "key {key:?}"
        );
    }
    let scanned = quiet_scan(&engine, 16);
    assert_eq!(scanned.len(), expected.len());
    for (key, value) in &expected {
        assert_eq!(&scanned[key].2, value, "key {key:?}");
    }

    // Updating the 1 MiB value in place through update.
    let updated = engine.update(b"big", |entry| {
        let mut value = entry.expect("big is present").value.clone();
        value.push(0xFF);
        (
            Decision::Replace {
                value,
                meta: Meta::default(),
            },
            (),
        )
    });
    assert!(updated.version.is_some());
    assert_eq!(
        engine.get(b"big", |entry| entry.value.len()),
        Some(big_value.len() + 1)
    );
    assert_eq!(
        engine.get(b"big", |entry| entry.value[..big_value.len()]
            == big_value[..]),
        Some(true)
    );

    // Removing the empty key leaves its neighbours alone.
    assert!(engine.remove(b"").is_some());
    assert_eq!(engine.get(b"", |_| ()), None);
    assert_eq!(
        engine.get(b"\0", |entry| entry.value.clone()),
        Some(vec![0; 3])
    );
    assert_eq!(engine.len(), expected.len() - 1);
    for key in expected.keys() {
        engine.remove(key);
    }
    assert!(engine.is_empty());
}

for_each_engine!(scan_of_an_empty_map, scan_of_an_empty_map);
fn scan_of_an_empty_map<E: Engine<Value = Value>>() {
    let cleared = E::new();
    cleared.insert(b"k", value(0), Meta::default());
    cleared.clear();
    for (what, engine) in [
        ("new", E::new()),
        ("with_capacity(1000)", E::with_capacity(1000)),
        ("cleared", cleared),
    ] {
        for count in SCAN_COUNTS {
            let cursor = engine.scan(0, count, |key, _| panic!("visited {key:?} in an empty map"));
            assert_eq!(
                cursor,
                0,
                "{}: scanning an empty map ({what}) did not end at once",
                E::NAME
            );
        }
    }
}

for_each_engine!(scan_visits_every_key, scan_visits_every_key);
fn scan_visits_every_key<E: Engine<Value = Value>>() {
    for keys in [1, 2, 10, 100, sized(200, 5000, 50_000)] {
        let engine = E::new();
        let expected: HashSet<Vec<u8>> = (0..keys).map(key).collect();
        for index in 0..keys {
            engine.insert(&key(index), value(index), Meta::default());
        }
        for count in SCAN_COUNTS {
            let scanned = quiet_scan(&engine, count);
            let scanned_keys: HashSet<Vec<u8>> = scanned.keys().cloned().collect();
            assert_eq!(
                scanned_keys,
                expected,
                "{}: {keys} keys, count {count}",
                E::NAME
            );
            for (key, (version, _, value)) in &scanned {
                assert_eq!(
                    Some((*version, value.clone())),
                    engine.get(key, |e| (e.version, e.value.clone()))
                );
            }
        }
        // After removing every other key, a scan finds exactly the rest.
        for index in (0..keys).step_by(2) {
            engine.remove(&key(index));
        }
        let rest: HashSet<Vec<u8>> = (1..keys).step_by(2).map(key).collect();
        for count in [1, 10, 1000] {
            let scanned: HashSet<Vec<u8>> = quiet_scan(&engine, count).into_keys().collect();
            assert_eq!(
                scanned,
                rest,
                "{}: {keys} keys halved, count {count}",
                E::NAME
            );
        }
    }
}

for_each_engine!(
    scan_across_writes_between_calls,
    scan_across_writes_between_calls
);
/// Redis's SCAN guarantee under growth and shrinkage: inserts and removes run between the scan's
/// calls, and every key present from the first call to the last is still visited.
fn scan_across_writes_between_calls<E: Engine<Value = Value>>() {
    let stable_keys = sized(20, 1000, 10_000);
    let churn_keys_max = sized(200, 20_000, 200_000);
    let churn_per_step = sized(8, 64, 256);
    for count in [1, 7, 100] {
        let engine = E::with_capacity(0);
        let stable: HashSet<Vec<u8>> = (0..stable_keys)
            .map(|i| format!("stable:{i}").into_bytes())
            .collect();
        for key in &stable {
            engine.insert(key, key.clone(), Meta::default());
        }
        let churn_key = |index: usize| format!("churn:{index}").into_bytes();

        // Phase one grows the table while the scan runs; phase two (its churn keys inserted
        // first, so the table starts large) shrinks it while the scan runs.
        for phase in ["grow", "shrink"] {
            let mut next_churn = 0;
            let mut oldest_churn = 0;
            if phase == "shrink" {
                while next_churn < churn_keys_max {
                    engine.insert(&churn_key(next_churn), Vec::new(), Meta::default());
                    next_churn += 1;
                }
            }
            let mut visited = HashSet::new();
            let mut cursor = 0;
            let mut steps = 0;
            loop {
                cursor = engine.scan(cursor, count, |key, entry| {
                    if key.starts_with(b"stable:") {
                        assert_eq!(
                            entry.value,
                            key,
                            "{}: a stable key's value changed",
                            E::NAME
                        );
                    } else {
                        assert!(
                            key.starts_with(b"churn:"),
                            "{}: scan visited a key never inserted: {key:?}",
                            E::NAME
                        );
                    }
                    visited.insert(key.to_vec());
                });
                if cursor == 0 {
                    break;
                }
                steps += 1;
                assert!(
                    steps < common::SCAN_STEPS_MAX,
                    "{}: the scan did not finish",
                    E::NAME
                );
                if phase == "grow" && next_churn < churn_keys_max {
                    // Insert a batch and remove half as many old ones: net growth with churn.
                    for _ in 0..churn_per_step {
                        engine.insert(&churn_key(next_churn), Vec::new(), Meta::default());
                        next_churn += 1;
                    }
                    for _ in 0..churn_per_step / 2 {
                        assert!(engine.remove(&churn_key(oldest_churn)).is_some());
                        oldest_churn += 1;
                    }
                } else if phase == "shrink" && oldest_churn < next_churn {
                    for _ in 0..churn_per_step * 2 {
                        if oldest_churn < next_churn {
                            assert!(engine.remove(&churn_key(oldest_churn)).is_some());
                            oldest_churn += 1;
                        }
                    }
                }
            }
            let missed: Vec<_> = stable.difference(&visited).take(5).collect();
            assert!(
                missed.is_empty(),
                "{}: scan (count {count}, phase {phase}) missed stable keys, e.g. {missed:?}",
                E::NAME
            );
            for index in oldest_churn..next_churn {
                engine.remove(&churn_key(index));
            }
            assert_eq!(engine.len(), stable_keys);
        }
    }
}

for_each_engine!(
    clear_empties_and_map_stays_usable,
    clear_empties_and_map_stays_usable
);
fn clear_empties_and_map_stays_usable<E: Engine<Value = Value>>() {
    let engine = E::new();
    // Clearing an empty map is fine.
    engine.clear();
    assert!(engine.is_empty());

    let keys = sized(50, 2000, 20_000);
    for round in 0..3 {
        for index in 0..keys {
            engine.insert(&key(index), value(index + round), Meta::default());
        }
        assert_eq!(engine.len(), keys);
        let before = engine.versions().current();
        engine.clear();
        assert_eq!(engine.len(), 0);
        assert!(engine.is_empty());
        for index in 0..keys {
            assert_eq!(engine.get(&key(index), |_| ()), None);
        }
        assert!(full_scan(&engine, 100).is_empty());
        // The clock is not reset: later writes are still above everything before.
        let version = engine
            .insert(b"after", value(round), Meta::default())
            .version;
        assert!(
            version > before,
            "{}: a write after clear reused an old version",
            E::NAME
        );
        assert_eq!(engine.len(), 1);
        assert_eq!(
            engine.get(b"after", |entry| entry.value.clone()),
            Some(value(round))
        );
        assert!(engine.remove(b"after").is_some());
    }
    engine.clear();
    engine.clear();
    assert!(engine.is_empty());
}

for_each_engine!(
    grow_to_many_keys_and_shrink_back,
    grow_to_many_keys_and_shrink_back
);
fn grow_to_many_keys_and_shrink_back<E: Engine<Value = Value>>() {
    let keys = sized(300, 100_000, 1_000_000);
    let checkpoint = keys / 10;
    let engine = E::with_capacity(0);
    for index in 0..keys {
        engine.insert(&key(index), value(index), Meta::default());
        if (index + 1) % checkpoint == 0 {
            assert_eq!(engine.len(), index + 1);
            // Spot-check keys from every stretch inserted so far.
            for probe in (0..=index).step_by(index / 50 + 1) {
                assert_eq!(
                    engine.get(&key(probe), |e| e.value.clone()),
                    Some(value(probe))
                );
            }
        }
    }
    for index in 0..keys {
        assert_eq!(
            engine.get(&key(index), |e| e.value.clone()),
            Some(value(index)),
            "key {index}"
        );
    }
    assert_eq!(engine.get(&key(keys), |_| ()), None);
    assert_eq!(quiet_scan(&engine, 1000).len(), keys);

    // Overwrite everything through update, then remove in a different order than inserted.
    for index in 0..keys {
        let updated = engine.update(&key(index), |entry| {
            let entry = entry.expect("present");
            (
                Decision::Replace {
                    value: value(index + 1),
                    meta: entry.meta,
                },
                (),
            )
        });
        assert!(updated.version.is_some());
    }
    assert_eq!(engine.len(), keys);
    for index in (0..keys).rev() {
        assert!(
            engine.remove(&key(index)).is_some(),
            "{}: key {index} missing on removal",
            E::NAME
        );
        if index % checkpoint == 0 {
            assert_eq!(engine.len(), index);
            for probe in (0..index).step_by(index / 50 + 1) {
                assert_eq!(
                    engine.get(&key(probe), |e| e.value.clone()),
                    Some(value(probe + 1))
                );
            }
        }
    }
    assert!(engine.is_empty());
    for index in 0..keys {
        assert_eq!(engine.get(&key(index), |_| ()), None);
    }
    assert!(full_scan(&engine, 1000).is_empty());

    // The shrunken map still works.
    for index in 0..100 {
        engine.insert(&key(index), value(index), Meta::default());
    }
    assert_eq!(engine.len(), 100);
    assert_eq!(quiet_scan(&engine, 10).len(), 100);
}

#[test]
fn version_clock_draws_and_observes() {
    let clock = VersionClock::default();
    assert_eq!(clock.current(), 0);
    assert_eq!(clock.next(), 1);
    assert_eq!(clock.next(), 2);
    assert_eq!(clock.current(), 2);
    clock.observe(100);
    assert_eq!(clock.current(), 100);
    assert_eq!(clock.next(), 101);
    // Observing an older version never moves the clock back.
    clock.observe(50);
    assert_eq!(clock.current(), 101);
    assert_eq!(clock.next(), 102);
}

for_each_engine!(
    observed_versions_bound_later_writes,
    observed_versions_bound_later_writes
);
fn observed_versions_bound_later_writes<E: Engine<Value = Value>>() {
    let engine = E::new();
    let first = engine.insert(b"k", value(0), Meta::default()).version;
    // Replay observes versions far above anything drawn so far.
    let replayed = first + 1_000_000;
    engine.versions().observe(replayed);
    assert_eq!(engine.versions().current(), replayed);
    let inserted = engine.insert(b"k", value(1), Meta::default()).version;
    assert!(inserted > replayed);
    let updated = engine
        .update(b"j", |_| {
            (
                Decision::Replace {
                    value: value(2),
                    meta: Meta::default(),
                },
                (),
            )
        })
        .version
        .expect("Replace installs a version");
    assert!(updated > inserted);
    let removed = engine.remove(b"k").expect("k is present");
    assert!(removed > updated);
    // An older observation changes nothing.
    engine.versions().observe(first);
    assert!(engine.insert(b"k", value(3), Meta::default()).version > removed);
}
