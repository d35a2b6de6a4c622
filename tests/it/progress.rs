//! `once` shows a progress bar for people at a terminal, and none in JSON output. A real
//! pseudo-terminal comes from util-linux `script`.

use crate::common::*;
use akv_emulator::FaultKind;

fn under_pty(command: &str) -> String {
    let out = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_gets_a_progress_bar_and_json_does_not() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("util-linux `script` is needed for this test");
    }
    let world = World::start((0..4).map(|i| TestApp::new(&format!("p{i}"))).collect()).await;
    world.emulator.set_faults(vec![fault_rule(
        "login",
        "TokenV2",
        FaultKind::Latency { ms: 300 },
        None,
    )]);
    let bin = env!("CARGO_BIN_EXE_akv-rotator");
    let config = world.config_path.display();
    let concurrency = world.config_with("serial.toml", "");
    // One app at a time so the bar is drawn while the cycle runs.
    let text = std::fs::read_to_string(&concurrency).unwrap().replacen(
        "refresh_before",
        "concurrency = 1\nrefresh_before",
        1,
    );
    std::fs::write(&concurrency, text).unwrap();
    let table = under_pty(&format!("{bin} once --config {}", concurrency.display()));
    assert!(
        table.contains("/4 apps"),
        "a progress bar was drawn: {table:?}"
    );
    assert!(table.contains("4 targets: 4 written"), "{table}");

    let json = under_pty(&format!("{bin} once --config {config} --output json"));
    assert!(
        !json.contains(" apps"),
        "no progress bar with JSON output: {json:?}"
    );
    assert!(json.contains("\"schema_version\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bar_moves_while_a_slow_token_request_is_in_flight() {
    let world = World::start(vec![TestApp::new("slow0"), TestApp::new("slow1")]).await;
    world.emulator.set_faults(vec![fault_rule(
        "login",
        "TokenV2",
        FaultKind::Latency { ms: 1500 },
        None,
    )]);
    let serial = world.dir.path().join("serial-slow.toml");
    std::fs::write(&serial, format!("concurrency = 1\n{}", world.config_text())).unwrap();
    let bin = env!("CARGO_BIN_EXE_akv-rotator");

    let table = under_pty(&format!("{bin} once --config {}", serial.display()));

    // Redrawn on a timer during the first app's slow request: the clock moves at 0/2, and the
    // app in flight is named; then the count advances.
    assert!(
        table.contains("0/2 apps 1s"),
        "the bar stood still: {table:?}"
    );
    assert!(
        table.contains("slow0"),
        "the app in flight is not shown: {table:?}"
    );
    assert!(
        table.contains("1/2 apps"),
        "the bar never advanced: {table:?}"
    );

    let status = under_pty(&format!("{bin} status --config {}", serial.display()));
    assert!(
        status.contains("/2 apps"),
        "status shows progress too: {status:?}"
    );
}
