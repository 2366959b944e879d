//! memcached's binary protocol executed against a real keyspace:
//! `net::memcache::binary::process` with the whole binary table, on the dashmap engine
//! with a fixed clock.
//!
//! Asserts what `memcache_text` asserts: the codec's contract on every call (including the
//! swallowing of a too-large body), and the same replies whether the bytes arrive at once or
//! in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::protocol::Protocol;
use workingdb_fuzz::chunk_size_for;

fuzz_target!(|input: &[u8]| {
    workingdb_fuzz::check_memcache_split(Protocol::MemcacheBinary, input, chunk_size_for(input));
});
