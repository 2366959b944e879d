//! # net: the event loops, buffers and protocol codecs
//!
//! The server speaks Redis's RESP and memcached's text, meta and binary protocols over one
//! shared [`Keyspace`](keyspace::Keyspace), on a few `mio` event loops (one per core
//! by default). The pieces, from the socket inwards:
//!
//! * [`server`]: the loops. Each owns its listening sockets (`SO_REUSEPORT`), its connections
//!   and its buffer [`Pool`](buffer::Pool); a connection lives on one loop for its whole life.
//!   The module docs describe a connection's life: pipelining, backpressure, fairness.
//! * [`buffer`]: pooled input and output buffers. Parsers borrow from the input; large values
//!   are written straight from the store with vectored writes.
//! * [`protocol`]: detection on a connection's first bytes, and the report every codec gives
//!   after a batch of requests.
//! * [`resp`] and [`memcache`]: the codecs, one file per command family, calling the keyspace.
//! * [`client`]: a connection's own state, the view other loops have of it, and each loop's
//!   inbox, through which any loop can act on any connection.
//! * [`session`]: what a command sees (shared state, its client, its output) and the RESP reply
//!   encoders; [`config`]: the options under Redis's names; [`stats`]: the counters.
//!
//! The server is generic over the engine (`E: Engine<Value = Value>`), so every call into the
//! map is monomorphised for the back-end `--engine` chose.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod aof;
pub mod buffer;
pub mod client;
pub mod config;
pub mod lock;
pub mod memcache;
pub mod protocol;
pub mod resp;
pub mod server;
pub mod session;
pub mod stats;

pub use config::Config;
pub use server::{start, Running};
pub use session::Shared;
