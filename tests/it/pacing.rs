//! Writes paced to a share of Key Vault's per-vault budget (`[limits]`), against the emulator's
//! model of Key Vault's throttle: CREATE secret counted apart from the other transactions, in
//! fixed windows, refused with a 429 once a window is full.

use crate::common::*;
use akv_emulator::VaultThrottleSeed;

/// More tokens than one window's share go into one vault whose write budget is exactly the
/// share the rotator is given (300 × 0.05 = 15 per 10 s): the writes are spread over the
/// windows, none is refused, every token is written, and the report shows the vault's use.
/// Unpaced, the 20 writes would all arrive in the first window and 5 would be refused.
#[tokio::test(flavor = "multi_thread")]
async fn writes_beyond_one_windows_share_are_paced_and_the_vault_refuses_none() {
    let apps = (0..20)
        .map(|i| TestApp::new(&format!("paced{i}")))
        .collect();
    let world = World::start(apps).await;
    world.emulator.set_vault_limits(
        OUTPUT,
        Some(VaultThrottleSeed {
            writes: 15,
            ..VaultThrottleSeed::default()
        }),
    );
    world.emulator.reset_stats();
    let config = world.config_with("paced.toml", "[limits]\nvault_write_share = 0.05");

    let (code, report, stderr) = world.once_at(&config, &[]);

    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["summary"]["written"], 20, "{report:#}");
    let stats = world.emulator.stats();
    let windows = &stats.write_windows[OUTPUT];
    assert!(
        windows.len() >= 2,
        "20 writes need two windows: {windows:?}"
    );
    assert!(windows.iter().all(|w| w.rejected == 0), "{windows:?}");
    assert_eq!(stats.count_status(OUTPUT, "SecretSet", 429), 0);
    let vaults = report["vaults"].as_array().expect("vaults in the report");
    let output = vaults
        .iter()
        .find(|v| v["vault"] == world.vault(OUTPUT).trim_end_matches('/').to_string() + "/")
        .unwrap_or_else(|| panic!("no output vault in {vaults:#?}"));
    assert_eq!(output["write_limit_per_10s"], 15, "{output:#}");
    assert_eq!(output["writes"], 20, "{output:#}");
    let peak = output["max_writes_per_10s"].as_u64().unwrap();
    assert!((1..=15).contains(&peak), "{output:#}");
    assert_eq!(output["other_limit_per_10s"], 2000, "{output:#}");
}

/// Paced writes go out in groups (up to 8 at one moment, the moments hundreds of milliseconds
/// apart): each group must reuse the connections the previous one used, as Key Vault keeps
/// HTTP/1.1 connections alive. A client that closed idle connections sooner than the gap (or a
/// server that did) would pay a TCP and TLS handshake per write, which is what pacing the
/// writes must not cost.
#[tokio::test(flavor = "multi_thread")]
async fn paced_writes_reuse_one_connection_instead_of_one_each() {
    let apps = (0..24)
        .map(|i| TestApp::new(&format!("reuse{i}")))
        .collect();
    let world = World::start(apps).await;
    world.emulator.reset_stats();
    // 300 × 0.1 = 30 writes per 10 s: groups of 6, one every 2.05 s, far longer than a write
    // takes here. Four groups.
    let config = world.config_with("reuse.toml", "[limits]\nvault_write_share = 0.1");

    let (code, report, stderr) = world.once_at(&config, &[]);

    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["summary"]["written"], 24, "{report:#}");
    let stats = world.emulator.stats();
    // The 24 tokens, and the status record when it lives in this vault.
    let writes = stats.count(OUTPUT, "SecretSet");
    assert!(writes >= 24, "{writes} writes");
    // At most one connection per write of a group, and one more for the listing.
    let opened = stats.connections_accepted(OUTPUT);
    assert!(
        (1..=7).contains(&opened),
        "{writes} paced writes (and a listing) opened {opened} connections to the output vault: {:?}",
        stats.connections
    );
    assert_eq!(
        stats.connections[OUTPUT].tls_handshakes, opened,
        "{:?}",
        stats.connections
    );
}
