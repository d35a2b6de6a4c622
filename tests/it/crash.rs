//! Crash safety: the real binary killed with SIGKILL at random moments, many times, never leaves
//! a partial or unvalidated token as a secret's current version, and the next normal run
//! completes.

use std::time::{Duration, Instant};

use crate::common::*;

/// `TestApp::new` can give two apps of one world the same client id (it keeps none of its
/// counter's changing digits), and the emulator then merges them: number them instead.
fn with_distinct_client_ids(mut apps: Vec<TestApp>) -> Vec<TestApp> {
    for (i, app) in apps.iter_mut().enumerate() {
        app.client_id = format!("{}-{:012x}", &app.client_id[..23], i + 1);
    }
    apps
}

/// A small deterministic generator (xorshift), seeded from the clock and printed for replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn assert_complete_token(world: &World, secret: &str, when: &str) {
    for stored in world.versions(OUTPUT, secret) {
        let parts: Vec<&str> = stored.value.split('.').collect();
        assert_eq!(parts.len(), 3, "{when}: {secret} holds a partial token");
        assert!(parts.iter().all(|p| !p.is_empty()), "{when}: {secret}");
        let claims = jwt_claims(&stored.value);
        assert_eq!(
            stored.exp.map(|e| e.unix_timestamp()),
            claims["exp"].as_i64(),
            "{when}: {secret}: Key Vault exp differs from the token's"
        );
        assert_eq!(stored.content_type.as_deref(), Some("application/jwt"));
        assert_eq!(claims["aud"], POWERBI, "{when}: {secret}");
        assert!(stored.enabled);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_never_leaves_a_partial_token() {
    let apps =
        with_distinct_client_ids((0..20).map(|i| TestApp::new(&format!("app{i}"))).collect());
    let world = World::start(apps).await;
    // Runs must keep doing work: tokens of 4 seconds are due again two seconds after they are
    // written (a token is never rewritten in its first half-life), so most rounds write.
    world
        .emulator
        .apply_seed(akv_emulator::Seed {
            token_lifetime_secs: Some((4, 4)),
            ..Default::default()
        })
        .unwrap();
    let config = world.config_with("crash.toml", "").display().to_string();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut kills = 0;
    for round in 0..25 {
        let delay = Duration::from_millis(rng.next() % 801);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"))
            .args(["once", "--config", &config, "--output", "json"])
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        // `kill` sends SIGKILL on Unix: no destructor, no flush, no graceful anything.
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        for app in &world.apps {
            assert_complete_token(&world, &app.targets[0].1, &format!("round {round}"));
        }
    }
    eprintln!(
        "{kills} of 25 runs killed mid-flight, {} versions written, {:?}",
        world
            .apps
            .iter()
            .map(|a| world.versions(OUTPUT, &a.targets[0].1).len())
            .sum::<usize>(),
        started.elapsed()
    );
    assert!(kills > 0, "no run was killed: the test proved nothing");

    // A normal run afterwards completes, every target written or fresh.
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    for app in &world.apps {
        let t = target(&report, &app.targets[0].1);
        assert!(
            t["outcome"] == "written" || t["outcome"] == "fresh",
            "{}: {t:#}",
            app.name
        );
        assert_complete_token(&world, &app.targets[0].1, "final run");
        assert!(!world.versions(OUTPUT, &app.targets[0].1).is_empty());
    }
    assert!(started.elapsed() < Duration::from_secs(90));
}
