//! `--output json` (and `token --format json`) means JSON only on stdout, for every command
//! that offers it: exactly one document, with logs, progress and messages on stderr, so that
//! `… | jq` never breaks. (The emulator's one info line: `emulator_cli`.)

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn every_json_output_is_exactly_one_json_document_on_stdout() {
    // Arrange: a working app and a failing one, and logging as loud as it gets.
    let world = World::working_and_failing("sales", "broken", Fault::WrongSecret).await;
    let config = world.config_path.display().to_string();
    let output = world.vault(OUTPUT);
    let loud = [("RUST_LOG", "debug")];
    let commands: [&[&str]; 6] = [
        // First, so that a token exists for `token`.
        &["once", "--config", &config, "--output", "json"],
        &["status", "--config", &config, "--output", "json"],
        &["check", "--config", &config, "--output", "json"],
        &["check", "--config", &config, "--online", "--output", "json"],
        &[
            "token",
            "--vault",
            &output,
            "--secret",
            "sales-powerbi-token",
            "--format",
            "json",
            "--config",
            &config,
        ],
        &["demo", "--output", "json"],
    ];

    for args in commands {
        // Act
        let out = world.run(args, &loud);

        // Assert
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = args[..2].join(" ");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{name}: exit {:?}: {stderr}",
            out.status.code()
        );
        let doc: Result<serde_json::Value, _> = serde_json::from_str(&stdout);
        assert!(
            doc.as_ref().is_ok_and(|d| d.is_object()),
            "{name}: stdout is not one JSON document ({:?}):\n{stdout}\n--- stderr:\n{stderr}",
            doc.err()
        );
        assert!(
            !stdout.contains("eyJ") || args[0] == "token",
            "{name}: a token on stdout"
        );
    }
    // The logs went to stderr (the debug lines of the cycle, for one).
    let out = world.run(commands[0], &loud);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cycle_started"),
        "no logs on stderr"
    );
}
