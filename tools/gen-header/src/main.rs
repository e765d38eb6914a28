//! Generates `include/netcore.h` from the ffi crate with cbindgen.
//!
//! `gen-header` writes the header; `gen-header --check` exits 1 if the
//! committed header differs from a fresh generation (run by the tests).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let crate_dir = root.join("ffi");
    let header = root.join("include/netcore.h");
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
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
