//! `akv-rotator once` as a child process of its own, for tests that need the process itself:
//! to kill it, to run two at once, or to run it on a config outside any [`super::World`].
//! Also the exit-code assertion on any finished process.

use std::path::Path;
use std::process::{Command, Output};

/// `akv-rotator once --config <config> --output json`, with `RUST_LOG` unset.
pub fn once_command(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_akv-rotator"));
    cmd.args([
        "once",
        "--config",
        config.to_str().unwrap(),
        "--output",
        "json",
    ])
    .env_remove("RUST_LOG");
    cmd
}

/// (exit code, JSON report or `Null`, stderr) of a finished `once`.
pub fn once_result(out: &Output) -> (i32, serde_json::Value, String) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The JSON body of the answer to `request` (the test's own call, not the product's).
pub async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Asserts that a finished process exited with `code`, showing its stdout and stderr if not.
pub fn assert_exit_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
