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
