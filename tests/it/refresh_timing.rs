//! Schedules that cannot run away: a token that lives shorter than `refresh_before` expects is
//! not rewritten on every run (it waits for half its life) and the report says why.

use akv_emulator::Seed;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_token_shorter_lived_than_expected_is_not_rewritten_on_every_run() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    // Tokens of 10 minutes against refresh_before = 30m: due the moment they are written.
    world
        .emulator
        .apply_seed(Seed {
            token_lifetime_secs: Some((600, 600)),
            ..Default::default()
        })
        .unwrap();

    let (code, first, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}\n{first:#}");
    assert_eq!(target(&first, "sales-powerbi-token")["outcome"], "written");
    let note = first["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .find(|n| n.contains("sales-powerbi-token"))
        .unwrap_or_else(|| panic!("no note about the short token: {first:#}"));
    assert!(note.contains("lower refresh_before"), "{note}");
    assert!(stderr.contains("token_lifetime_short"), "{stderr}");

    // Run again at once, as a daemon's early refresh or a tight CronJob would.
    let (code, second, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}\n{second:#}");
    assert_eq!(target(&second, "sales-powerbi-token")["outcome"], "fresh");
    assert_eq!(world.versions(OUTPUT, "sales-powerbi-token").len(), 1);
}
