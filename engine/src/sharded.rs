//! placeholder: the `sharded` back-end is being written.
