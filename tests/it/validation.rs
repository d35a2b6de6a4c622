//! Token validation end to end: tokens the emulator breaks on purpose are each rejected with a
//! clear reason and never written; an unknown signing key is accepted after a key rollover.

use crate::common::*;
use akv_emulator::TokenFault;

/// Asserts that the target was written and what its signature check says.
fn assert_written(report: &serde_json::Value, secret: &str, signature: &str) {
    let t = target(report, secret);
    assert_eq!(t["outcome"], "written", "{report:#}");
    assert_eq!(t["signature"], signature, "{t:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_broken_token_is_rejected_with_its_reason_and_nothing_is_written() {
    let cases = [
        (
            "badsig",
            TokenFault::BadSignature,
            "signature does not verify",
        ),
        ("wrongaud", TokenFault::WrongAudience, "audience"),
        ("wrongiss", TokenFault::WrongIssuer, "issuer"),
        ("wrongclient", TokenFault::WrongClientId, "issued to client"),
        ("expired", TokenFault::Expired, "expired"),
        ("early", TokenFault::NotYetValid, "not valid before"),
        ("noroles", TokenFault::MissingRoles, "required role"),
        ("algnone", TokenFault::AlgNone, "algorithm"),
        ("newkid", TokenFault::UnknownKid, "not among tenant"),
    ];
    let mut apps = vec![TestApp::new("healthy")];
    apps.extend(cases.iter().map(|(name, _, _)| TestApp::new(name)));
    let world = World::start(apps).await;
    for (i, (_, fault, _)) in cases.iter().enumerate() {
        world
            .emulator
            .set_token_fault(&world.apps[i + 1].client_id, Some(*fault));
    }
    // Every target requires the role the apps are granted.
    let text = world.config_text().replace(
        "-powerbi-token\"\n",
        "-powerbi-token\"\nrequired_roles = [\"Tenant.Read.All\"]\n",
    );
    std::fs::write(&world.config_path, text).unwrap();

    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert_written(&report, "healthy-powerbi-token", "verified");
    for (name, _, reason) in cases {
        let secret = format!("{name}-powerbi-token");
        let t = failed_target(&report, &secret, "invalid_token");
        let message = t["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{name}: {message}");
        assert!(message.contains("was not written"), "{name}: {message}");
        assert!(
            world.versions(OUTPUT, &secret).is_empty(),
            "{name}: nothing written"
        );
    }

    // The unknown key is published by a rollover and signs the next tokens: the next run
    // (a new process, so a fresh key cache) accepts them.
    world.emulator.rollover_signing_key().unwrap();
    world
        .emulator
        .set_token_fault(&world.apps[9].client_id, None);
    let (_, report, _) = world.once(&[]);
    assert_written(&report, "newkid-powerbi-token", "verified");
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_tokens_are_claim_checked_and_reported_as_not_verifiable() {
    let world = World::start(vec![
        TestApp::new("sales").target(GRAPH, "sales-graph-token"),
    ])
    .await;
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_written(&report, "sales-graph-token", "not_verifiable");
    assert_eq!(
        target(&report, "sales-powerbi-token")["signature"],
        "verified"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_kid_refetches_the_keys_at_most_once_per_interval() {
    use akv_rotator::cycle::{Cycle, CycleOptions};
    let world = World::start(vec![TestApp::new("a"), TestApp::new("b")]).await;
    let b = world.apps[1].client_id.clone();
    async fn cycle(rotator: &Cycle) -> akv_rotator::report::CycleReport {
        rotator.run(CycleOptions::default()).await.unwrap()
    }
    let outcome = |r: &akv_rotator::report::CycleReport, app: &str| {
        r.targets
            .iter()
            .find(|t| t.app == app)
            .unwrap()
            .outcome
            .label()
            .to_string()
    };

    // Default interval (5 minutes): keys fetched once for app a; b's token, signed with a key
    // published only after that fetch, is refused without refetching.
    let cfg = akv_rotator::config::load(&world.config_path).unwrap();
    let rotator = Cycle::new(cfg).unwrap();
    world
        .emulator
        .set_token_fault(&b, Some(TokenFault::UnknownKid));
    let r = cycle(&rotator).await;
    assert_eq!(outcome(&r, "a"), "written");
    assert_eq!(outcome(&r, "b"), "failed");
    world.emulator.rollover_signing_key().unwrap();
    world.emulator.set_token_fault(&b, None);
    let r = cycle(&rotator).await;
    assert_eq!(outcome(&r, "b"), "failed", "no refetch within the interval");
    assert!(r.targets.iter().any(|t| {
        t.error
            .as_ref()
            .is_some_and(|e| e.message.contains("less than 5 minutes"))
    }));
    assert_eq!(rotator.jwks_fetches(), 1, "keys fetched once per tenant");

    // A short interval: the unknown kid triggers one refetch, which finds the rolled key.
    let cfg = akv_rotator::config::load(&world.config_path).unwrap();
    let rotator = Cycle::new(cfg)
        .unwrap()
        .with_key_refetch_interval(std::time::Duration::ZERO);
    world
        .emulator
        .set_token_fault(&b, Some(TokenFault::UnknownKid));
    let r = cycle(&rotator).await;
    assert_eq!(outcome(&r, "b"), "failed");
    let fetches = rotator.jwks_fetches();
    world.emulator.rollover_signing_key().unwrap();
    world.emulator.set_token_fault(&b, None);
    let r = cycle(&rotator).await;
    assert_eq!(outcome(&r, "b"), "written", "{:?}", r.targets);
    assert_eq!(
        rotator.jwks_fetches(),
        fetches + 1,
        "exactly one refetch for the new kid"
    );
}

fn with_probe(world: &World, probe: &str) -> String {
    world
        .config_text()
        .replacen(
            "[custom_cloud]\n",
            &format!(
                "[custom_cloud]\npowerbi_api = \"{}\"\n",
                world.emulator.powerbi_url()
            ),
            1,
        )
        .replace(
            "-powerbi-token\"\n",
            &format!("-powerbi-token\"\nprobe = {probe}\n"),
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_passes_an_accepted_token_and_blocks_a_rejected_one() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    std::fs::write(&world.config_path, with_probe(&world, "true")).unwrap();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(target(&report, "sales-powerbi-token")["probe"], "passed");
    assert_eq!(
        world
            .emulator
            .stats()
            .count_status("powerbi", "GroupsList", 200),
        1,
        "a real GET reached the API"
    );

    // The tenant does not allow service principals in Power BI: the API refuses the token.
    let blocked = World::start(vec![TestApp::new("blocked")]).await;
    blocked
        .emulator
        .apply_seed(akv_emulator::Seed {
            tenant_policies: vec![akv_emulator::TenantPolicySeed {
                tenant_id: TENANT.into(),
                powerbi_service_principals_enabled: false,
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    std::fs::write(&blocked.config_path, with_probe(&blocked, "true")).unwrap();
    let (code, report, _) = blocked.once(&[]);
    assert_eq!(code, 1);
    let t = target(&report, "blocked-powerbi-token");
    assert_eq!(t["error"]["class"], "invalid_token", "{t:#}");
    let message = t["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("HTTP 401") && message.contains("PowerBINotAuthorizedException"),
        "{message}"
    );
    assert!(
        blocked.versions(OUTPUT, "blocked-powerbi-token").is_empty(),
        "a token the API rejects is not written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_url_outside_the_allowlist_is_refused_at_config_validation() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    std::fs::write(
        &world.config_path,
        with_probe(&world, "\"https://attacker.example/collect\""),
    )
    .unwrap();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(report.is_null());
    assert!(
        stderr.contains("apps[0].targets[0].probe") && stderr.contains("live token"),
        "{stderr}"
    );
    assert_eq!(
        world.emulator.stats().count("login", "TokenV2"),
        0,
        "no token was even requested"
    );
}
