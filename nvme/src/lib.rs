//! `nvme`: aligned buffers, `O_DIRECT` device access and a block log for the AOF.
//!
//! Not written yet: this is issue 5. The crate exists so the workspace has its final shape;
//! see `../shared/ARCHITECTURE.md` (nvme) for the design it will follow.
