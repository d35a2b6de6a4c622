//! Running the rotator by hand against `akv-rotator emulator` is one command more:
//! `--write-config FILE` writes a ready config for the seeded apps; its stdout is its one JSON
//! info line, nothing else.

use std::time::{Duration, Instant};

/// Kills the emulator process when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// `akv-rotator emulator --write-config <config>` with this log level; stdout as given,
    /// stderr discarded.
    fn emulator(config: &std::path::Path, log: &str, stdout: std::process::Stdio) -> Running {
        Running(
            std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"))
                .args(["emulator", "--write-config", config.to_str().unwrap()])
                .env("RUST_LOG", log)
                .stdout(stdout)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

#[test]
fn the_emulator_writes_a_config_that_once_runs_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hand.toml");
    let _emulator = Running::emulator(&config, "warn", std::process::Stdio::null());
    let start = Instant::now();
    while !config.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no config was written"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = crate::common::once_command(&config).output().unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["written"], 1, "{report:#}");
    assert_eq!(report["targets"][0]["signature"], "verified", "{report:#}");
}

#[test]
fn the_emulator_prints_one_json_line_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hand.toml");
    let mut emulator = Running::emulator(&config, "debug", std::process::Stdio::piped());
    let mut stdout = std::io::BufReader::new(emulator.0.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    // The config is written before the info line; then stop the emulator and read the rest.
    assert!(config.exists(), "no config was written");
    drop(emulator);
    let rest: Vec<String> = std::io::BufRead::lines(stdout)
        .map_while(Result::ok)
        .collect();
    assert!(
        rest.is_empty(),
        "more than the info line on stdout: {rest:#?}"
    );
    let lines = [first];
    let info: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert!(info["vaults"].is_object(), "{info:#}");
}
