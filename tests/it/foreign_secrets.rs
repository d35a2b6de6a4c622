//! Token secrets the rotator did not write are not its to overwrite: a hand-made secret where a
//! target writes (another content type, or `application/jwt` without the rotator's
//! `written-by` tag) fails that target `foreign_secret` and stays exactly as it was; `once
//! --adopt` takes it over and writes the token.

use akv_emulator::SecretSeed;

use crate::common::*;

/// A hand-made version of `name` in the output vault, with this content type and tags.
fn hand_made(world: &World, name: &str, content_type: Option<&str>, tags: &[(&str, &str)]) {
    world.seed_vaults(vec![vault_seed(
        OUTPUT,
        vec![],
        vec![SecretSeed {
            content_type: content_type.map(str::to_string),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..secret_seed(name, "hand-made value, not a token")
        }],
    )]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_made_secret_is_left_alone_without_adopt_and_taken_over_with_it() {
    // Arrange: "sales" writes over a plain-text secret, "ops" over a JWT-typed secret someone
    // else wrote, "hr" writes where nothing is stored yet.
    let world = World::start(vec![
        TestApp::new("sales"),
        TestApp::new("ops"),
        TestApp::new("hr"),
    ])
    .await;
    hand_made(&world, "sales-powerbi-token", Some("text/plain"), &[]);
    hand_made(
        &world,
        "ops-powerbi-token",
        Some("application/jwt"),
        &[("written-by", "someone-else")],
    );

    // Act: a run without --adopt.
    let (code, report, stderr) = world.once(&[]);

    // Assert: both foreign targets failed, named, and nothing was written over them.
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    for (name, why) in [
        ("sales-powerbi-token", "\"text/plain\""),
        ("ops-powerbi-token", "written-by"),
    ] {
        let t = failed_target(&report, name, "foreign_secret");
        let message = t["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(name) && message.contains(why) && message.contains("--adopt"),
            "{message}"
        );
        let versions = world.versions(OUTPUT, name);
        assert_eq!(versions.len(), 1, "{name}: nothing was written");
        assert_eq!(versions[0].value, "hand-made value, not a token");
    }
    assert_eq!(outcome(&report, "hr-powerbi-token"), "written");

    // Act: the same run with --adopt.
    let (code, report, stderr) = world.once(&["--adopt"]);

    // Assert: both taken over; the next run without --adopt finds them the rotator's own.
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    for name in ["sales-powerbi-token", "ops-powerbi-token"] {
        assert_eq!(outcome(&report, name), "written", "{report:#}");
        let versions = world.versions(OUTPUT, name);
        assert_eq!(versions.len(), 2, "{name}");
        let latest = versions.last().unwrap();
        assert_eq!(latest.content_type.as_deref(), Some("application/jwt"));
        assert_eq!(jwt_claims(&latest.value)["aud"], POWERBI);
    }
    let (code, report, _) = world.once(&[]);
    assert_eq!(code, 0, "adopted secrets are the rotator's own: {report:#}");
}
