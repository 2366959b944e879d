//! Helpers the persistence tests share: temporary directories, and a keyspace's state in a
//! comparable form.

#![allow(dead_code)]

use engine::{Engine, Meta};
use keyspace::{Effect, Keyspace, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a key holds, without versions (replay draws new ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// A string and its metadata.
    Str(Vec<u8>, Meta),
    /// A list and its metadata.
    List(Vec<Vec<u8>>, Meta),
}

/// Every live key of `keyspace` and what it holds.
pub fn dump<E: Engine<Value = Value>>(keyspace: &Keyspace<E>) -> BTreeMap<Vec<u8>, Held> {
    let mut state = BTreeMap::new();
    keyspace.snapshot(|_, effect| match *effect {
        Effect::PutString { key, value, meta } => {
            state.insert(key.to_vec(), Held::Str(value.to_vec(), meta));
        }
        Effect::PutList {
            key,
            meta,
            elements,
        } => {
            let elements = elements.iter().map(|element| element.to_vec()).collect();
            state.insert(key.to_vec(), Held::List(elements, meta));
        }
        ref other => panic!("a snapshot reports whole values only, not {other:?}"),
    });
    state
}

/// A fresh, empty directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new directory named after `name`, this process and a counter.
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "workingdb-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
