//! Differential tests: random operation sequences against every back-end and against
//! `std::collections::HashMap`, compared after every step.
//!
//! The key space is eight keys (the empty key among them, and keys that differ only by
//! trailing zero bytes), so operations keep colliding on the same keys, removing them and
//! bringing them back. After every step the whole map is compared with the model: `len`, and
//! every key's value, metadata and version. Versions are checked against the contract as they
//! are returned: each write's version is above every earlier one (one thread, one clock), and
//! operations that change nothing draw no version at all.

#![cfg(not(loom))]

#[macro_use]
mod common;

use common::{counter_value, quiet_scan, sized, snapshot, Value};
use engine::{Decision, Engine, Meta};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::HashMap;

/// The key space.
const KEYS: [&[u8]; 8] = [
    b"",
    b"a",
    b"a\0",
    b"a\0\0",
    b"b",
    b"key:1",
    b"key:10",
    b"\xff\xfe",
];

/// One operation of a generated sequence. Keys are indices into [`KEYS`].
#[derive(Clone, Debug)]
enum Operation {
    Insert {
        key: usize,
        value: Value,
        meta: Meta,
    },
    Remove {
        key: usize,
    },
    /// `update` as a counter increment: reads the value as a counter (anything that is not
    /// eight bytes counts as zero), writes it plus one and keeps the metadata.
    Increment {
        key: usize,
    },
    /// `update` returning `Keep`, reporting the entry it saw.
    UpdateKeep {
        key: usize,
    },
    /// `update` returning `Remove`, reporting whether it saw an entry.
    UpdateRemove {
        key: usize,
    },
    /// `update` that replaces the key only if it is present (`Keep` otherwise).
    ReplaceIfPresent {
        key: usize,
        value: Value,
    },
    Get {
        key: usize,
    },
    Len,
    Clear,
    Scan {
        count: usize,
    },
}

fn operation() -> impl Strategy<Value = Operation> {
    let key = || 0..KEYS.len();
    // Values of eight bytes are counters for `Increment`; other lengths count as zero.
    let value = || prop_oneof![vec(any::<u8>(), 8), vec(any::<u8>(), 0..12)];
    let meta = (0..3u64, any::<u32>()).prop_map(|(expire_at_ms, flags)| Meta {
        expire_at_ms,
        flags,
    });
    prop_oneof![
        8 => (key(), value(), meta).prop_map(|(key, value, meta)| Operation::Insert { key, value, meta }),
        4 => key().prop_map(|key| Operation::Remove { key }),
        6 => key().prop_map(|key| Operation::Increment { key }),
        2 => key().prop_map(|key| Operation::UpdateKeep { key }),
        2 => key().prop_map(|key| Operation::UpdateRemove { key }),
        2 => (key(), value()).prop_map(|(key, value)| Operation::ReplaceIfPresent { key, value }),
        4 => key().prop_map(|key| Operation::Get { key }),
        1 => Just(Operation::Len),
        1 => Just(Operation::Clear),
        2 => prop_oneof![Just(1usize), Just(3), Just(10), Just(usize::MAX)]
            .prop_map(|count| Operation::Scan { count }),
    ]
}

/// The counter an `Increment` reads from a value.
fn counter_of(value: &[u8]) -> u64 {
    value.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

/// The reference: what every key maps to, and the versions seen so far.
struct Model {
    entries: HashMap<Vec<u8>, (u64, Meta, Value)>,
    /// The last version drawn for each key, including removals; never forgotten, not even by
    /// `Clear`, so a key that comes back must come back with a higher version.
    last_version_of_key: HashMap<Vec<u8>, u64>,
    /// The last version any write returned.
    last_version: u64,
}

impl Model {
    /// Checks a freshly returned version against the contract and records it.
    fn record<E: Engine>(
        &mut self,
        engine: &E,
        key: &[u8],
        version: u64,
    ) -> Result<(), TestCaseError> {
        prop_assert!(
            version > self.last_version,
            "version {version} not above {}",
            self.last_version
        );
        prop_assert!(
            version <= engine.versions().current(),
            "version {version} above the clock"
        );
        if let Some(&previous) = self.last_version_of_key.get(key) {
            prop_assert!(
                version > previous,
                "key {key:?}: version {version} not above {previous}"
            );
        }
        self.last_version_of_key.insert(key.to_vec(), version);
        self.last_version = version;
        Ok(())
    }
}

/// Runs one sequence against a fresh `E`, checking every step.
fn run<E: Engine<Value = Value>>(operations: &[Operation]) -> Result<(), TestCaseError> {
    let engine = E::new();
    let mut model = Model {
        entries: HashMap::new(),
        last_version_of_key: HashMap::new(),
        last_version: engine.versions().current(),
    };
    for (step, operation) in operations.iter().enumerate() {
        let clock = engine.versions().current();
        match operation {
            Operation::Insert { key, value, meta } => {
                let key = KEYS[*key];
                let inserted = engine.insert(key, value.clone(), *meta);
                model.record(&engine, key, inserted.version)?;
                let replaced = model
                    .entries
                    .insert(key.to_vec(), (inserted.version, *meta, value.clone()));
                prop_assert_eq!(
                    inserted.replaced,
                    replaced.map(|(_, meta, _)| meta),
                    "step {}: the replaced entry's metadata",
                    step
                );
            }
            Operation::Remove { key } => {
                let key = KEYS[*key];
                let removed = engine.remove(key);
                prop_assert_eq!(
                    removed.is_some(),
                    model.entries.remove(key).is_some(),
                    "step {}",
                    step
                );
                match removed {
                    Some(version) => model.record(&engine, key, version)?,
                    None => prop_assert_eq!(
                        engine.versions().current(),
                        clock,
                        "an absent remove drew a version"
                    ),
                }
            }
            Operation::Increment { key } => {
                let key = KEYS[*key];
                let updated = engine.update(key, |entry| {
                    let old = entry.map(|entry| counter_of(&entry.value));
                    let meta = entry.map(|entry| entry.meta).unwrap_or_default();
                    let new = old.unwrap_or(0).wrapping_add(1);
                    (
                        Decision::Replace {
                            value: counter_value(new),
                            meta,
                        },
                        old,
                    )
                });
                let expected = model
                    .entries
                    .get(key)
                    .map(|(_, _, value)| counter_of(value));
                prop_assert_eq!(
                    updated.output,
                    expected,
                    "step {}: the closure saw another entry",
                    step
                );
                let version = updated
                    .version
                    .ok_or_else(|| TestCaseError::fail("Replace drew no version"))?;
                model.record(&engine, key, version)?;
                let meta = model
                    .entries
                    .get(key)
                    .map(|(_, meta, _)| *meta)
                    .unwrap_or_default();
                let new = counter_value(expected.unwrap_or(0).wrapping_add(1));
                model.entries.insert(key.to_vec(), (version, meta, new));
            }
            Operation::UpdateKeep { key } => {
                let key = KEYS[*key];
                let updated = engine.update(key, |entry| {
                    (
                        Decision::Keep,
                        entry.map(|entry| (entry.version, entry.meta, entry.value.clone())),
                    )
                });
                prop_assert_eq!(
                    updated.output.as_ref(),
                    model.entries.get(key),
                    "step {}",
                    step
                );
                prop_assert_eq!(updated.version, None);
                prop_assert_eq!(engine.versions().current(), clock, "Keep drew a version");
            }
            Operation::UpdateRemove { key } => {
                let key = KEYS[*key];
                let updated = engine.update(key, |entry| (Decision::Remove, entry.is_some()));
                let was_present = model.entries.remove(key).is_some();
                prop_assert_eq!(updated.output, was_present, "step {}", step);
                prop_assert_eq!(updated.version.is_some(), was_present, "step {}", step);
                match updated.version {
                    Some(version) => model.record(&engine, key, version)?,
                    None => prop_assert_eq!(
                        engine.versions().current(),
                        clock,
                        "an absent remove drew a version"
                    ),
                }
            }
            Operation::ReplaceIfPresent { key, value } => {
                let key = KEYS[*key];
                let updated = engine.update(key, |entry| match entry {
                    Some(entry) => {
                        let meta = Meta {
                            expire_at_ms: entry.meta.expire_at_ms + 1,
                            flags: !entry.meta.flags,
                        };
                        (
                            Decision::Replace {
                                value: value.clone(),
                                meta,
                            },
                            Some(meta),
                        )
                    }
                    None => (Decision::Keep, None),
                });
                let expected = model.entries.get(key).map(|(_, meta, _)| Meta {
                    expire_at_ms: meta.expire_at_ms + 1,
                    flags: !meta.flags,
                });
                prop_assert_eq!(updated.output, expected, "step {}", step);
                prop_assert_eq!(
                    updated.version.is_some(),
                    expected.is_some(),
                    "step {}",
                    step
                );
                match (updated.version, expected) {
                    (Some(version), Some(meta)) => {
                        model.record(&engine, key, version)?;
                        model
                            .entries
                            .insert(key.to_vec(), (version, meta, value.clone()));
                    }
                    _ => prop_assert_eq!(engine.versions().current(), clock, "Keep drew a version"),
                }
            }
            Operation::Get { key } => {
                let key = KEYS[*key];
                let seen = snapshot(&engine, key);
                prop_assert_eq!(seen.as_ref(), model.entries.get(key), "step {}", step);
            }
            Operation::Len => {
                prop_assert_eq!(engine.len(), model.entries.len(), "step {}", step);
                prop_assert_eq!(engine.is_empty(), model.entries.is_empty(), "step {}", step);
            }
            Operation::Clear => {
                engine.clear();
                model.entries.clear();
            }
            Operation::Scan { count } => {
                let scanned = quiet_scan(&engine, *count);
                prop_assert_eq!(
                    &scanned,
                    &model.entries,
                    "step {}: scan with count {}",
                    step,
                    count
                );
            }
        }

        // After every step the whole map matches the model.
        prop_assert_eq!(
            engine.len(),
            model.entries.len(),
            "step {}: len after {:?}",
            step,
            operation
        );
        for key in KEYS {
            let seen = snapshot(&engine, key);
            prop_assert_eq!(
                seen.as_ref(),
                model.entries.get(key),
                "step {}: key {:?} after {:?}",
                step,
                key,
                operation
            );
        }
    }
    Ok(())
}

for_each_engine!(matches_hashmap, matches_hashmap);
fn matches_hashmap<E: Engine<Value = Value>>() {
    let config = Config {
        cases: sized(4, 64, 1024) as u32,
        // The runner is driven by hand (one per back-end), so there is no source file to
        // persist failures next to; the failure message carries the minimal sequence instead.
        failure_persistence: None,
        ..Config::default()
    };
    let operations_max = sized(24, 200, 1000);
    let mut runner = TestRunner::new(config);
    if let Err(error) = runner.run(&vec(operation(), 1..=operations_max), |operations| {
        run::<E>(&operations)
    }) {
        panic!("{}: {error}", E::NAME);
    }
}
