//! `persistence`: the CRC64-checked append-only file, its group-commit writer, replay and
//! rewrite (issue 4).
//!
//! Written so far: [`record`], the record format and its checks, and [`storage`], the seam
//! the writer will write through (a plain file, and a fault-injecting store for tests).
//! Still to come (see `../shared/ARCHITECTURE.md`, persistence): the writer thread with
//! io_uring group commit, replay, rewrite with a manifest, and the wiring into the server.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod record;
pub mod storage;
