//! `akv-rotator demo` runs the main job on the built-in emulator and exits 0 only when it went
//! as designed: a validated token, a warning alert, a rotation, a failure.

#[test]
fn the_demo_runs_as_designed() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "Demo ran as designed",
        "sales-reporting-powerbi-token  https://analysis.windows.net/powerbi/api  written",
        "WARNING",
        "bad_client_secret [AADSTS7000215]",
        "finance-etl (finance-etl-client-secret): Rotated",
        "Adaptive Card: WARNING: Client secret of app \"ops-dashboard\"",
        // The rotation's new credential, announced to the security team (one more alert).
        "Adaptive Card: New client secret ",
        "removed from app \"finance-etl\"",
        "finance-etl's rotation is completed",
        "`akv-rotator status`",
        "contentType  application/jwt",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("eyJ"), "no token in the demo output");
}

#[test]
fn demo_json_is_only_json_on_stdout_and_keep_keeps_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("kept");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"))
        .args(["demo", "--output", "json", "--keep", keep.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(report["summary"]["written"], 4, "{report:#}");
    assert!(
        stderr.contains("Demo ran as designed"),
        "the story goes to stderr: {stderr}"
    );
    for file in [
        "seed.json",
        "rotator.toml",
        "rotator-client-secret",
        "report.json",
    ] {
        assert!(keep.join(file).is_file(), "{file} was not kept");
    }
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keep.join("report.json")).unwrap()).unwrap();
    assert_eq!(kept["summary"]["written"], 4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keep.join("seed.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the seed holds secrets: owner only");
    }
}
