//! `akv-rotator token` for scripts: prints the stored token (or the header line), refuses a
//! secret that is not a token and a token that expires within `--min-valid`, and never logs
//! the value.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn token_prints_the_stored_token_for_curl_and_refuses_what_is_not_safe() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let (code, _, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}");
    let stored = world.versions(OUTPUT, "sales-powerbi-token");
    let token = stored.last().unwrap().value.clone();
    let config = world.config_path.display().to_string();
    let out_vault = world.vault(OUTPUT);
    let token_cmd = |secret: &str, extra: &[&str]| {
        let mut args = vec![
            "token", "--config", &config, "--vault", &out_vault, "--secret", secret,
        ];
        args.extend_from_slice(extra);
        world.run(&args, &[("RUST_LOG", "trace")])
    };

    let header = token_cmd("sales-powerbi-token", &["--format", "header"]);
    assert_eq!(
        header.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&header.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&header.stdout),
        format!("Authorization: Bearer {token}\n")
    );
    assert!(
        !String::from_utf8_lossy(&header.stderr).contains(&token[..40]),
        "the token reached the logs"
    );
    let raw = token_cmd("sales-powerbi-token", &[]);
    assert_eq!(String::from_utf8_lossy(&raw.stdout).trim(), token);

    // Tokens live about an hour: asking for two hours of life is refused, with when and who.
    let short = token_cmd("sales-powerbi-token", &["--min-valid", "2h"]);
    let why = String::from_utf8_lossy(&short.stderr);
    assert_eq!(short.status.code(), Some(1), "{why}");
    assert!(short.stdout.is_empty(), "nothing printed on refusal");
    assert!(
        why.contains("expires in") && why.contains("written by akv-rotator/"),
        "{why}"
    );

    // The app's client secret is not a token: refused, never printed.
    let input_vault = world.vault(INPUT);
    let config2 = config.clone();
    let secret = world.run(
        &[
            "token",
            "--config",
            &config2,
            "--vault",
            &input_vault,
            "--secret",
            "sales-client-secret",
        ],
        &[],
    );
    let why = String::from_utf8_lossy(&secret.stderr);
    assert_eq!(secret.status.code(), Some(1), "{why}");
    assert!(why.contains("is not a token"), "{why}");
    assert!(secret.stdout.is_empty());
}
