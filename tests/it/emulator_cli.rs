//! Running the rotator by hand against `akv-rotator emulator` is one command more:
//! `--write-config FILE` writes a ready config for the seeded apps.

use std::time::{Duration, Instant};

/// Kills the emulator process when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_emulator_writes_a_config_that_once_runs_as_is() {
    let bin = env!("CARGO_BIN_EXE_akv-rotator");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hand.toml");
    let _emulator = Running(
        std::process::Command::new(bin)
            .args(["emulator", "--write-config", config.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
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
