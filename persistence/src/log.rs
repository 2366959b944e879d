//! # log: the append-only file's names, as the server and the tests have used them
//!
//! The log was one module until it grew three concepts; it is now [`crate::journal`] (effects
//! fanned out to subscribers), [`crate::writer`] (the AOF subscriber: pending buffer, writer
//! thread, group commit, disk faults) and [`crate::rewrite`] (segment switch, base, backoff,
//! starting a log at run time). This module keeps the old paths working.

pub use crate::journal::DbJournal;
pub use crate::rewrite::Snapshotter;
pub use crate::writer::{
    file_opener, thread_ticket, AppendLog, Fsync, Io, Opener, Options, EVERYSEC_INTERVAL,
    LAZY_BATCH_BYTES, LAZY_BATCH_INTERVAL, PENDING_BYTES_MAX, RETRY_PAUSE_MAX, RETRY_PAUSE_MIN,
    SHUTDOWN_ATTEMPTS_MAX,
};
