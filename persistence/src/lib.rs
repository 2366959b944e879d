//! `persistence`: the CRC64-checked append-only file, its group-commit writer, replay and
//! rewrite.
//!
//! Not written yet: this is issue 4. The crate exists so the workspace has its final shape;
//! see `../shared/ARCHITECTURE.md` (persistence) for the design it will follow.
