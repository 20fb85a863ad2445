//! Records the exact versions of the crates that decide a run's numbers (from Cargo.lock),
//! so every summary can say which generator and samplers produced it.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (krate, var) in [
        ("rand", "AICHAOS_RAND_VERSION"),
        ("rand_chacha", "AICHAOS_RAND_CHACHA_VERSION"),
        ("statrs", "AICHAOS_STATRS_VERSION"),
        ("libm", "AICHAOS_LIBM_VERSION"),
        ("hdrhistogram", "AICHAOS_HDRHISTOGRAM_VERSION"),
        ("serde_json", "AICHAOS_SERDE_JSON_VERSION"),
    ] {
        println!("cargo:rustc-env={var}={}", locked_version(&lock, krate));
    }
}

/// The version of the first `[[package]]` named `krate` (only one version of each of these
/// is in the graph; if several were, the first listed is the one this file reports).
fn locked_version(lock: &str, krate: &str) -> String {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{krate}\"")
            && let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            return version.trim_matches('"').to_string();
        }
    }
    "unknown".to_string()
}
