//! The README's seed example parses, and the demo seed starts.

use akv_emulator::Seed;

#[test]
fn readme_toml_example_parses() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("block end");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("seed.toml");
    std::fs::write(&path, &readme[start..end]).expect("write");
    let seed = Seed::from_file(&path).expect("README seed parses");
    assert_eq!(seed.tenants[0].apps.len(), 2);
    assert_eq!(
        seed.vaults[0].permissions[1]
            .secrets
            .as_deref()
            .map(<[String]>::len),
        Some(1)
    );
    assert_eq!(seed.resources[0].token_version, 2);

    let json_path = dir.path().join("seed.json");
    std::fs::write(&json_path, serde_json::to_string(&seed).expect("json")).expect("write");
    assert_eq!(
        Seed::from_file(&json_path)
            .expect("json parses")
            .vaults
            .len(),
        1
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("seed.toml");
    std::fs::write(&path, "[[tenants]]\nid = \"t\"\ncolour = \"blue\"\n").expect("write");
    assert!(Seed::from_file(&path).is_err());
}

#[tokio::test]
async fn demo_seed_starts() {
    let emu = akv_emulator::start(akv_emulator::EmulatorOptions {
        seed: Seed::default_demo(),
        ..Default::default()
    })
    .await
    .expect("starts");
    assert!(emu.vault_url("demo").is_some());
    assert_eq!(
        emu.secret_versions("demo", "example-client-secret").len(),
        1
    );
    assert!(emu.ca_cert_path().exists());
}

#[test]
fn inline_settings_are_lifted_into_side_tables() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("block end");
    let seed: Seed = toml::from_str(&readme[start..end]).expect("parses");
    assert_eq!(seed.secret_propagation_secs, Some(10));
    assert_eq!(seed.token_clock_skew_secs, Some(30));
    assert_eq!(seed.tenant_policies.len(), 1);
    assert_eq!(seed.tenant_policies[0].max_secret_lifetime_days, Some(180));
    assert!(seed.tenant_policies[0].powerbi_service_principals_enabled);
    assert_eq!(seed.app_registrations.len(), 2);
    let fic = &seed.app_registrations[0].federated_credentials[0];
    assert_eq!(
        fic.audiences,
        vec!["api://AzureADTokenExchange".to_string()]
    );
    assert_eq!(seed.app_registrations[1].owners.len(), 1);
    assert_eq!(
        seed.vault_policies[0].throttle,
        Some(akv_emulator::ThrottleSeed {
            requests: 4000,
            window_secs: 10
        })
    );
    // Round trip through the table form (what Serialize writes).
    let again: Seed = serde_json::from_str(&serde_json::to_string(&seed).expect("json"))
        .expect("table form parses");
    assert_eq!(again.app_registrations.len(), 2);
    assert_eq!(again.tenant_policies.len(), 1);
}

#[test]
fn readme_fault_example_parses() {
    let readme = include_str!("../../README.md");
    let marker = "```toml\n[[faults]]";
    let start = readme.find(marker).expect("faults block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("block end");
    let seed: Seed = toml::from_str(&readme[start..end]).expect("parses");
    assert_eq!(seed.faults.len(), 2);
    assert_eq!(seed.faults[0].count, Some(3));
    assert_eq!(
        seed.faults[0].kind,
        akv_emulator::FaultKind::TooManyRequests {
            retry_after_secs: None
        }
    );
    assert!((seed.faults[1].probability - 0.25).abs() < f64::EPSILON);
}
