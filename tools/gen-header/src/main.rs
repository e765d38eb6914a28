//! Generates `include/netcore.h` from the ffi crate with cbindgen.
//!
//! `gen-header` writes the header; `gen-header --check` exits 1 if the
//! committed header differs from a fresh generation (run by the tests).
//!
//! The error codes are not declared in the ffi crate: they are written here
//! from the core's table (`netcore_core::Error::ALL`, whose OS codes are
//! libc's errno constants), so the header cannot drift from the library.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use netcore_core::Error;

/// `enum nc_error`, one constant per code of the core's table, documented
/// with the core's description of it.
fn error_enum() -> String {
    let mut text = String::from(
        "\n/**\n * Error codes (the core's table): negative; OS errors are the negated\n \
         * Linux errno value, netcore's own codes are below -3000.\n */\ntypedef enum nc_error {\n",
    );
    for error in Error::ALL {
        let message = error.message();
        let mut first = message.chars();
        let capitalised: String = first.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(first).collect();
        // Writing to a String cannot fail.
        let _ = write!(text, "  /**\n   * {capitalised}.\n   */\n  NC_{} = {},\n", error.name(), error.code());
    }
    text.push_str("} nc_error;");
    text
}

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let crate_dir = root.join("ffi");
    let header = root.join("include/netcore.h");
    let mut config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    config.after_includes = Some(config.after_includes.take().unwrap_or_default() + &error_enum());
    let bindings = match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => bindings,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    if std::env::args().any(|a| a == "--check") {
        let committed = std::fs::read(&header).unwrap_or_default();
        if committed != fresh {
            eprintln!("gen-header: include/netcore.h is out of date; run `make header` and commit it");
            return ExitCode::FAILURE;
        }
        println!("gen-header: include/netcore.h is up to date");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::write(&header, fresh) {
        eprintln!("gen-header: writing {}: {e}", header.display());
        return ExitCode::FAILURE;
    }
    println!("gen-header: wrote {}", header.display());
    ExitCode::SUCCESS
}
