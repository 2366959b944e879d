//! `net`: the mio event loops, buffer pool and protocol codecs (RESP, memcached).
//!
//! Not written yet: this is issue 3. The crate exists so the workspace has its final shape;
//! see `../shared/ARCHITECTURE.md` (net) for the design it will follow.
