//! The TLS test certificates: tests/tls/make-certs.sh run into a directory
//! and read back (shared by the TLS unit tests in src/tls and the
//! integration tests).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// Runs make-certs.sh into `dir` and returns every file it made, by name.
pub fn make(dir: &Path) -> HashMap<String, Vec<u8>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tls/make-certs.sh");
    let status = Command::new("bash").arg(script).arg(dir).status().expect("bash runs");
    assert!(status.success(), "make-certs.sh failed (is the openssl CLI installed?)");
    std::fs::read_dir(dir)
        .expect("the certificate directory")
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 name").to_owned();
            (name, std::fs::read(&path).expect("a readable file"))
        })
        .collect()
}
