//! `FUNCTION`: Redis 7's function libraries. Scripting is not here yet, so no library can be
//! loaded and the only subcommand is `FUNCTION FLUSH`, which removes every library: with none
//! to remove it does nothing, exactly as Redis does with none loaded. (Redis's test suite
//! sends it before every group of tests.) `LOAD`, `LIST`, `CALL` and the rest arrive with the
//! scripting issue; until then they get Redis's "unknown subcommand" error.

use super::docs::functions as docs;
use super::parse::Args;
use super::table::{command, container, Row};
use super::CommandResult;
use crate::session::Session;
use engine::Engine;
use keyspace::Value;

/// The `FUNCTION` row.
pub(super) fn rows<E: Engine<Value = Value>>() -> Vec<Row<E>> {
    vec![container!(
        "function",
        -2,
        [],
        [SLOW],
        vec![
            command!("function|flush", -2, [WRITE, NOSCRIPT], [WRITE, SLOW, SCRIPTING], [], function_flush, tips: ["request_policy:all_shards", "response_policy:all_succeeded"], docs: docs::FUNCTION_FLUSH),
        ],
        docs: docs::FUNCTION
    )]
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`.
fn function_flush<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    match args.len() {
        2 => {}
        3 if matches!(
            args.get(2).to_ascii_uppercase().as_slice(),
            b"ASYNC" | b"SYNC"
        ) => {}
        3 => return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into()),
        _ => {
            return Err(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
                super::truncate_lossy(args.get(1), 128)
            )
            .into())
        }
    }
    session.ok();
    Ok(())
}
