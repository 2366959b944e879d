//! RESP requests executed against a real keyspace: `net::resp::process` with the full
//! command table, on the dashmap engine with a fixed clock.
//!
//! Asserts, on every codec call (see `workingdb_fuzz::Server::drive`): nothing consumed
//! beyond the buffer, "need more" asks for more than is buffered, a full output stops with
//! progress. The input is run twice on fresh servers, all at once and in small pieces, so
//! a request split across reads (the parser's resumption) runs through every command.
//! Replies are not compared: KEYS, SCAN and RANDOMKEY depend on each map's random hash seed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::protocol::Protocol;
use workingdb_fuzz::{chunk_size_for, Server};

fuzz_target!(|input: &[u8]| {
    Server::new().drive(Protocol::Resp, input, 0);
    Server::new().drive(Protocol::Resp, input, chunk_size_for(input));
});
