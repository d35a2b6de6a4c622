//! The README's seed example parses, and the demo seed starts.

use akv_emulator::Seed;

#[test]
fn readme_toml_example_parses() {
    let readme = include_str!("../README.md");
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
