//! placeholder: the `flurry` back-end is being written.
