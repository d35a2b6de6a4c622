//! A client secret whose current version the vault listing shows disabled: the cycle reports
//! `secret_disabled` from the listing alone, without the GET that Key Vault would refuse with
//! 403 `SecretDisabled`, and the other apps are unaffected.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_client_secret_is_reported_from_the_listing_without_reading_it() {
    let world = World::working_and_failing("healthy", "switched-off", Fault::DisabledSecret).await;

    let (code, report, stderr) = world.once(&[]);

    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(outcome(&report, "healthy-powerbi-token"), "written");
    let t = failed_target(&report, "switched-off-powerbi-token", "secret_disabled");
    let message = t["error"]["message"].as_str().unwrap();
    let secret = world.apps[1].secret_name();
    for part in ["switched-off", secret.as_str(), "disabled", "enable"] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(
        world
            .versions(OUTPUT, "switched-off-powerbi-token")
            .is_empty()
    );

    let stats = world.emulator.stats();
    assert_eq!(
        stats.count(INPUT, "SecretGet"),
        1,
        "only the healthy app's client secret is read; the disabled one is known from the listing"
    );
    assert_eq!(
        stats.count_status(INPUT, "SecretGet", 403),
        0,
        "no read is refused as SecretDisabled"
    );
}
