//! The `FUNCTION` commands' docs (see the [module docs](super)).

use super::{one_of, pure_token, Docs, Group};

/// `FUNCTION`.
pub const FUNCTION: Docs = Docs::new(
    Group::Scripting,
    "7.0.0",
    "The commands that manage server-side function libraries.",
    "Depends on the subcommand.",
);

/// `FUNCTION FLUSH`.
pub const FUNCTION_FLUSH: Docs = Docs::new(
    Group::Scripting,
    "7.0.0",
    "Removes every function library.",
    "O(N), N being the number of functions removed.",
)
.arguments(&[one_of(
    "async",
    &[pure_token("async", "ASYNC"), pure_token("sync", "SYNC")],
)
.optional()]);
