//! What every engine integration test shares: one macro that runs a generic test body against
//! every back-end, the test sizes, and a checked full scan.
//!
//! Each back-end gets its own `#[test]` (`name::sharded`, `name::dashmap`, `name::flurry`,
//! `name::lockfree`), so a failure names the back-end and `--skip lockfree` or a filter such as
//! `cargo test -p engine -- ::dashmap` picks back-ends from the command line. Under Miri only
//! the lock-free table runs: it is the one back-end with our own `unsafe` code, and the others
//! are lock-based or third-party and would only spend Miri's time.

// Every test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use engine::{Engine, Entry, Meta};
use std::collections::HashMap;

/// The value type the tests store. `Vec<u8>` is `Clone`, which the flurry back-end needs.
pub type Value = Vec<u8>;

/// Runs the generic function `$body::<E>()` once per back-end, each as its own test.
///
/// `$body` must be a function in the invoking module, generic over one
/// `E: Engine<Value = Value>`. The lock-free table runs as `LockFree<Value>`, with its default
/// node allocator, unless `lockfree = Type` names another instantiation (the test that counts
/// bytes through this binary's global allocator asks for `engine::lockfree::GlobalAllocator`,
/// so that the nodes are counted too).
macro_rules! for_each_engine {
    ($name:ident, $body:ident) => {
        for_each_engine!($name, $body, lockfree = ::engine::LockFree<$crate::common::Value>);
    };
    ($name:ident, $body:ident, lockfree = $lockfree:ty) => {
        mod $name {
            #[test]
            #[cfg_attr(miri, ignore = "Miri runs only the lock-free table")]
            fn sharded() {
                super::$body::<::engine::sharded::Sharded<$crate::common::Value>>();
            }

            #[test]
            #[cfg_attr(miri, ignore = "Miri runs only the lock-free table")]
            fn dashmap() {
                super::$body::<::engine::dashmap::DashMapEngine<$crate::common::Value>>();
            }

            #[test]
            #[cfg_attr(miri, ignore = "Miri runs only the lock-free table")]
            fn flurry() {
                super::$body::<::engine::flurry::FlurryEngine<$crate::common::Value>>();
            }

            #[test]
            fn lockfree() {
                super::$body::<$lockfree>();
            }
        }
    };
}

/// How big the tests run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Under Miri: a handful of operations, enough to walk every code path once.
    Miri,
    /// The default: a few seconds per back-end in a debug build.
    Default,
    /// `WORKINGDB_STRESS=long`: a long manual run, minutes per back-end.
    Long,
}

/// The environment variable that selects [`Scale::Long`].
pub const SCALE_VARIABLE: &str = "WORKINGDB_STRESS";

/// The scale this run uses.
pub fn scale() -> Scale {
    if cfg!(miri) {
        Scale::Miri
    } else if std::env::var(SCALE_VARIABLE).is_ok_and(|value| value == "long") {
        Scale::Long
    } else {
        Scale::Default
    }
}

/// Picks the size for the current [`Scale`].
pub fn sized(miri: usize, default: usize, long: usize) -> usize {
    match scale() {
        Scale::Miri => miri,
        Scale::Default => default,
        Scale::Long => long,
    }
}

/// The cursor steps one full scan may take before we call it non-terminating.
///
/// A scan that never returns cursor 0 would otherwise hang the test run; a million steps is
/// far more than any table the tests build needs (the largest holds a few hundred thousand
/// keys, and every step visits at least one slot).
pub const SCAN_STEPS_MAX: usize = 1 << 20;

/// Scans the whole map with `count` as the hint and returns every visited key with its
/// version, metadata and value, in visit order (a key may appear more than once).
///
/// Panics if the scan takes more than [`SCAN_STEPS_MAX`] steps.
pub fn full_scan<E: Engine<Value = Value>>(
    engine: &E,
    count: usize,
) -> Vec<(Vec<u8>, u64, Meta, Value)> {
    let mut visited = Vec::new();
    let mut cursor = 0;
    for _ in 0..SCAN_STEPS_MAX {
        cursor = engine.scan(cursor, count, |key, entry| {
            visited.push((key.to_vec(), entry.version, entry.meta, entry.value.clone()));
        });
        if cursor == 0 {
            return visited;
        }
    }
    panic!(
        "{}: a scan with count {count} did not finish in {SCAN_STEPS_MAX} steps",
        E::NAME
    );
}

/// Scans the whole map and returns the visited keys with their last-seen entry, checking that
/// a key visited twice was visited with the same entry (the map must be quiet).
pub fn quiet_scan<E: Engine<Value = Value>>(
    engine: &E,
    count: usize,
) -> HashMap<Vec<u8>, (u64, Meta, Value)> {
    let mut keys = HashMap::new();
    for (key, version, meta, value) in full_scan(engine, count) {
        let seen = (version, meta, value);
        if let Some(previous) = keys.insert(key.clone(), seen.clone()) {
            assert_eq!(
                previous,
                seen,
                "{}: key {key:?} visited twice with different entries",
                E::NAME
            );
        }
    }
    keys
}

/// The entry of `key` as owned data, for comparisons.
pub fn snapshot<E: Engine<Value = Value>>(engine: &E, key: &[u8]) -> Option<(u64, Meta, Value)> {
    engine.get(key, |entry: &Entry<Value>| {
        (entry.version, entry.meta, entry.value.clone())
    })
}

/// A counter value stored as eight little-endian bytes.
pub fn counter_value(count: u64) -> Value {
    count.to_le_bytes().to_vec()
}

/// Reads a counter written by [`counter_value`]; panics on anything else.
pub fn read_counter(value: &[u8]) -> u64 {
    u64::from_le_bytes(value.try_into().expect("a counter is eight bytes"))
}
