//! The runner every fuzz target shares (`tests/fuzz_*.rs` in core and ffi).
//!
//! The toolchain is stable Rust, so the targets are proptest properties
//! instead of libFuzzer harnesses. Each target runs `NETCORE_FUZZ_CASES`
//! random inputs (its own small default keeps `cargo test` fast; `make fuzz`
//! sets a large number) and prints `fuzz <target>: <N> executions, 0
//! failures`. A failure is shrunk to a minimal input and fails the test with it.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases to run: `NETCORE_FUZZ_CASES` if set (a positive number), else `default`.
pub fn cases(default: u32) -> u32 {
    match std::env::var("NETCORE_FUZZ_CASES") {
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("NETCORE_FUZZ_CASES must be a positive number, not {text:?}")),
        Err(_) => default,
    }
}

/// Runs `test` on [`cases`]`(default_cases)` inputs drawn from `strategy`,
/// then prints the target's execution count.
pub fn run<S: Strategy>(
    target: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    // Shrinking replays the test; bound it (60 s) so that a failure whose
    // replays each wait for a hang guard still ends in reasonable time.
    let config =
        Config { cases: cases(default_cases), failure_persistence: None, max_shrink_time: 60_000, ..Config::default() };
    let executions = AtomicU64::new(0);
    let result = TestRunner::new(config).run(&strategy, |input| {
        executions.fetch_add(1, Ordering::Relaxed);
        test(input)
    });
    let executions = executions.into_inner();
    if let Err(failure) = result {
        panic!("fuzz {target}: failed after {executions} executions: {failure}");
    }
    println!("fuzz {target}: {executions} executions, 0 failures");
}
