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
