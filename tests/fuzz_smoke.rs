//! A short, deterministic run of the front-end fuzzer on every test run; `cargo xtask fuzz` runs
//! it for minutes. A panic anywhere in YAML/config/SQL/diagnostics on a mutated input fails this.

use std::path::Path;
use std::time::Duration;

#[test]
fn front_end_never_panics_on_mutated_configs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = dozer_tests::fuzz::corpus(&[&root.join("corpus"), &root.join("../examples")]);
    assert!(corpus.len() >= 30, "corpus too small: {}", corpus.len());
    let report = dozer_tests::fuzz::fuzz(&corpus, 0x5eed, 3_000, Duration::from_secs(60));
    let crashes: Vec<String> = report
        .crashes
        .iter()
        .map(|(input, msg)| format!("{msg}\n--- input ---\n{input}\n"))
        .collect();
    assert!(
        crashes.is_empty(),
        "{} of {} runs panicked:\n{}",
        crashes.len(),
        report.runs,
        crashes.join("\n")
    );
    // The mutations must not all die in the YAML parser: some must get through to typed plans
    // (about one in eight does; most others stop at SQL errors, which is what they are for).
    assert!(
        report.reached_plans * 20 > report.runs,
        "only {} of {} runs reached typed plans",
        report.reached_plans,
        report.runs
    );
}
