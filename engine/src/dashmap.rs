//! placeholder: the `dashmap` back-end is being written.
