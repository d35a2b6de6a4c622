//! Client secret expiry from Microsoft Graph (`expiry.graph = true`): the credential's
//! `endDateTime`, matched to the stored secret, tightens the severity, and a disagreement with
//! Key Vault's `exp` is its own finding.

use crate::common::*;

fn graph_config(world: &World) -> String {
    let text = world.config_text().replacen(
        "[custom_cloud]\n",
        &format!(
            "[custom_cloud]\ngraph_endpoint = \"{}\"\n",
            world.emulator.graph_url()
        ),
        1,
    );
    format!("{text}\n[expiry]\ngraph = true\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_end_dates_tighten_the_severity_and_a_mismatch_is_reported() {
    // Entra ID says the secret ends in 5 days …
    let world = World::start_with(
        vec![
            TestApp::new("drift").secret_expiring_in(days(5)),
            TestApp::new("steady"),
        ],
        |seed| {
            seed.tenants[0].apps[0].roles.insert(
                "https://graph.microsoft.com".into(),
                vec!["Application.Read.All".into()],
            );
        },
    )
    .await;
    // … but Key Vault's copy records 180 days.
    world.record_client_secret_expiry(&world.apps[0], days(180));
    std::fs::write(&world.config_path, graph_config(&world)).unwrap();

    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}");
    let cs = &app(&report, "drift")["client_secret"];
    assert_eq!(cs["severity"], "critical", "{cs:#}");
    assert_eq!(cs["days_left"], 4);
    assert!(cs["graph_expires_on"].is_string());
    let mismatch = cs["expiry_mismatch"].as_str().unwrap();
    assert!(
        mismatch.contains("Key Vault records exp") && mismatch.contains("Microsoft Graph"),
        "{mismatch}"
    );
    let steady = &app(&report, "steady")["client_secret"];
    assert_eq!(steady["severity"], "ok");
    assert!(steady.get("expiry_mismatch").is_none(), "{steady:#}");
    assert!(
        world.emulator.stats().total_for("graph") >= 2,
        "both apps were looked up in Graph"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_graph_permission_the_report_says_what_is_missing() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    std::fs::write(&world.config_path, graph_config(&world)).unwrap();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}");
    let cs = &app(&report, "sales")["client_secret"];
    assert_eq!(cs["severity"], "ok", "Key Vault's exp still counts");
    assert!(
        cs["graph_error"]
            .as_str()
            .unwrap()
            .contains("Application.Read.All"),
        "{cs:#}"
    );
}
