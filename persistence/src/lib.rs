//! `persistence`: the CRC64-checked append-only file, its group-commit writer, replay and
//! rewrite.
//!
//! The pieces, from the bytes up:
//!
//! * [`record`]: the record format and its checks (CRC-64/NVME over length and body);
//! * [`effect`]: a keyspace [`keyspace::Effect`] as a record and back;
//! * [`storage`]: the seam the writer writes through (a plain file, and a seeded
//!   fault-injecting store for tests); [`uring`]: its io_uring back-end, a batch and its
//!   linked `fdatasync` in one submission;
//! * [`manifest`]: the directory of parts (base and incremental segments) and its atomically
//!   replaced manifest, as Redis 7's multi-part AOF;
//! * [`journal`]: the [`keyspace::Journal`] the keyspace reports to, which encodes
//!   each effect once and hands it to every subscriber (the seam for a live feed and
//!   replication: what a subscriber receives and what happens to a slow one);
//! * [`writer`]: the AOF, the journal's first subscriber: the writer thread's group commit
//!   under `appendfsync always|everysec|no` and disk faults; [`rewrite`]: a new base while
//!   the writer goes on, and a log started at run time; [`log`] keeps the old names;
//! * [`replay`]: loading the directory back, cutting a torn tail, refusing corruption;
//! * [`device`]: the incremental segments on an `--aof-device` (an [`nvme::BlockLog`] per
//!   segment, a stub file in the directory naming its slot).

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod device;
pub mod effect;
pub mod journal;
pub mod log;
pub mod manifest;
pub mod record;
pub mod replay;
pub mod rewrite;
pub mod storage;
pub mod uring;
pub mod writer;
