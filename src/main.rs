//! The `workingdb` binary: start-up wiring only.
//!
//! The network server is issue 3 and is not written yet. Until it is, the binary says so and
//! exits with a failure status instead of pretending to serve.

fn main() {
    eprintln!(
        "workingdb {}: the server is not implemented yet (see README.md, status). \
         The engine crate and its back-ends ({}) are ready; run `.ci/run` to test them.",
        env!("CARGO_PKG_VERSION"),
        engine::BACKEND_NAMES.join(", ")
    );
    std::process::exit(2);
}
