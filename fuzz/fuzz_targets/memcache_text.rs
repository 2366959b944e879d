//! memcached's text protocol executed against a real keyspace: `net::memcache::text::process`
//! with the whole text table (storage, retrieval, arithmetic, touch, delete, flush_all, ...),
//! on the dashmap engine with a fixed clock.
//!
//! Asserts, on every codec call (see `workingdb_fuzz::Server::drive`): nothing consumed
//! beyond the buffer, "need more" asks for more than is buffered, a swallow only once the
//! buffer is used up. And the replies do not depend on how the bytes arrive: all at once
//! and in small pieces, on fresh servers, give the same bytes (except for `stats`, whose
//! counters are process-wide, and `version`/`verbosity`, kept out for the same reason).
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::protocol::Protocol;
use workingdb_fuzz::chunk_size_for;

fuzz_target!(|input: &[u8]| {
    workingdb_fuzz::check_memcache_split(Protocol::MemcacheText, input, chunk_size_for(input));
});
