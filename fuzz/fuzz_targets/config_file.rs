//! The configuration-file parser (`net::config::Config::apply_file`, redis.conf style) and,
//! on the same text, the AOF manifest parser (`persistence::manifest::Manifest::parse`): the
//! two line-based files the server reads at start-up.
//!
//! Asserts:
//! * an error names its line;
//! * every option of an accepted file reads back and sets again to itself (`CONFIG GET`
//!   then `CONFIG SET` with that text changes nothing), and the configuration written out by
//!   `CONFIG REWRITE` (`Config::rewrite_file`) reads back as the same configuration;
//! * an accepted manifest renders to text that parses back to the same manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::config::{Config, OPTIONS};
use persistence::manifest::Manifest;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);

    let mut config = Config::default();
    match config.apply_file(&text) {
        Err(error) => assert!(error.starts_with("line "), "{error}"),
        Ok(()) => {
            for option in OPTIONS {
                let value = config
                    .get(option.name)
                    .unwrap_or_else(|| panic!("{} does not read back", option.name));
                let mut again = config.clone();
                again.set(option.name, &value).unwrap_or_else(|error| {
                    panic!("{} {value:?} does not set: {error}", option.name)
                });
                assert_eq!(
                    again, config,
                    "setting {} to {value:?} changed it",
                    option.name
                );
            }
            // CONFIG REWRITE of an empty file: every option that differs from its default,
            // quoted as Redis quotes; it must read back as this configuration.
            let written = config.rewrite_file("");
            let mut reread = Config::default();
            reread
                .apply_file(&written)
                .unwrap_or_else(|error| panic!("the written file is refused: {error}\n{written}"));
            assert_eq!(
                reread, config,
                "the written file reads back differently:\n{written}"
            );
        }
    }

    if let Ok(manifest) = Manifest::parse(&text) {
        let rendered = manifest.render();
        assert_eq!(Manifest::parse(&rendered), Ok(manifest), "{rendered}");
    }
});
