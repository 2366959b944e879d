//! placeholder: the lock-free table is being written.
#![allow(missing_docs, unused)]
use crate::{Decision, Engine, Entry, Meta, Updated, VersionClock};
use std::marker::PhantomData;

pub struct LockFree<V> {
    versions: VersionClock,
    _marker: PhantomData<V>,
}

impl<V: Send + Sync + 'static> Engine for LockFree<V> {
    type Value = V;
    const NAME: &'static str = "lockfree";
    fn with_capacity(_capacity: usize) -> Self {
        unimplemented!()
    }
    fn get<R>(&self, _key: &[u8], _read: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        unimplemented!()
    }
    fn update<R>(
        &self,
        _key: &[u8],
        _decide: impl FnMut(Option<&Entry<V>>) -> (Decision<V>, R),
    ) -> Updated<R> {
        unimplemented!()
    }
    fn insert(&self, _key: &[u8], _value: V, _meta: Meta) -> u64 {
        unimplemented!()
    }
    fn scan(&self, _c: u64, _n: usize, _visit: impl FnMut(&[u8], &Entry<V>)) -> u64 {
        unimplemented!()
    }
    fn len(&self) -> usize {
        unimplemented!()
    }
    fn clear(&self) {
        unimplemented!()
    }
    fn versions(&self) -> &VersionClock {
        &self.versions
    }
}
