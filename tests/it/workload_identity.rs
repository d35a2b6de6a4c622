//! The chart's default credential path, end to end: the rotator authenticates to Key Vault with
//! Azure Workload Identity. The test plays the Kubernetes side (an OIDC issuer with its own RSA
//! key, a projected service-account token in a file, the environment the Azure Workload Identity
//! webhook injects) and the Entra side (the emulator, with a federated identity credential on
//! the rotator's app registration and no client secret), then runs the real binary.

use std::path::PathBuf;

use crate::common::*;
use akv_emulator::{AppRegistrationSeed, FederatedCredentialSeed};
use akv_rotator::azure::graph::random_guid;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use time::OffsetDateTime;

const NAMESPACE: &str = "akv-rotator";
const SERVICE_ACCOUNT: &str = "akv-rotator";
const TOKEN_EXCHANGE: &str = "api://AzureADTokenExchange";

/// A Kubernetes cluster's service-account token issuer (the AKS OIDC issuer, in production).
struct Issuer {
    url: String,
    kid: String,
    key: KeyPair,
}

impl Issuer {
    fn new() -> Issuer {
        Issuer {
            url: format!("https://oidc.test.example/{}", random_guid()),
            kid: random_guid(),
            key: KeyPair::generate(KeySize::Rsa2048).unwrap(),
        }
    }

    /// The issuer's public JWKS, as it publishes it at `{url}/openid/v1/jwks`.
    fn jwks(&self) -> serde_json::Value {
        let public = self.key.public_key();
        json!({ "keys": [{
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }]})
    }

    /// A projected service-account token (RS256 JWT, as the kubelet writes it for a pod).
    fn projected_token(&self, subject: &str, audience: &str) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let header = json!({ "alg": "RS256", "kid": self.kid });
        let claims = json!({
            "aud": [audience],
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "iss": self.url,
            "sub": subject,
            "kubernetes.io": {
                "namespace": NAMESPACE,
                "serviceaccount": { "name": SERVICE_ACCOUNT, "uid": random_guid() },
                "pod": { "name": "akv-rotator-29000000-abcde", "uid": random_guid() },
            },
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
        );
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

fn service_account_subject() -> String {
    format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}")
}

/// A test world whose rotator identity has a federated credential for `issuer` (subject
/// `system:serviceaccount:akv-rotator:akv-rotator`, audience `api://AzureADTokenExchange`) and
/// no client secret, a config with `[credential] kind = "workload-identity"` and no ids, and a
/// projected token file (written later by each test).
struct WorkloadWorld {
    world: World,
    token_file: PathBuf,
}

impl WorkloadWorld {
    async fn start(issuer: &Issuer) -> WorkloadWorld {
        let world = World::start_with(vec![TestApp::new("sales")], |seed| {
            // The rotator's app registration: no client secret at all, only the federation.
            for app in &mut seed.tenants[0].apps {
                if app.client_id == ROTATOR {
                    app.secrets.clear();
                }
            }
            seed.app_registrations.push(AppRegistrationSeed {
                client_id: ROTATOR.into(),
                federated_credentials: vec![FederatedCredentialSeed {
                    issuer: issuer.url.clone(),
                    subject: service_account_subject(),
                    audiences: vec![TOKEN_EXCHANGE.into()],
                    jwks: issuer.jwks(),
                }],
                ..Default::default()
            });
        })
        .await;
        // As the chart renders it: the ids come from the webhook's environment.
        let config =
            world.config_text_with_credential("[credential]\nkind = \"workload-identity\"\n");
        assert!(config.contains("cloud = \"custom\"") && config.contains("ca_file = "));
        assert!(config.contains("[custom_cloud]\nauthority_host = "));
        assert!(!config.contains("client_secret_file"));
        std::fs::write(&world.config_path, config).unwrap();
        // The rotator's old client secret file must play no part.
        std::fs::remove_file(world.dir.path().join("rotator-secret")).unwrap();
        let token_file = world.dir.path().join("azure-identity-token");
        WorkloadWorld { world, token_file }
    }

    /// One `once --output json` with the environment the Azure Workload Identity webhook
    /// injects into the pod.
    fn once(&self) -> (i32, serde_json::Value, String) {
        let token_file = self.token_file.display().to_string();
        let authority = self.world.emulator.authority_host();
        self.world.once_with_env(&[
            ("AZURE_CLIENT_ID", ROTATOR),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_FEDERATED_TOKEN_FILE", token_file.as_str()),
            ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ])
    }

    /// Asserts that the cycle stopped before any work: no client secret read, nothing written.
    fn assert_nothing_done(&self) {
        assert!(
            self.world
                .versions(OUTPUT, "sales-powerbi-token")
                .is_empty()
        );
        let stats = self.world.emulator.stats();
        assert_eq!(stats.count(INPUT, "SecretGet"), 0, "no client secret read");
        assert_eq!(stats.count(OUTPUT, "SecretSet"), 0, "nothing written");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_identity_from_the_webhook_environment_writes_the_token() {
    let issuer = Issuer::new();
    let w = WorkloadWorld::start(&issuer).await;
    std::fs::write(
        &w.token_file,
        issuer.projected_token(&service_account_subject(), TOKEN_EXCHANGE),
    )
    .unwrap();

    let (code, report, stderr) = w.once();
    assert_eq!(code, 0, "stderr: {stderr}\nreport: {report:#}");
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["outcome"], "written", "{report:#}");
    assert_eq!(t["signature"], "verified");
    assert!(t["error"].is_null());

    let versions = w.world.versions(OUTPUT, "sales-powerbi-token");
    assert_eq!(versions.len(), 1);
    assert_eq!(t["version"], versions[0].version.as_str());
    let claims = jwt_claims(&versions[0].value);
    assert_eq!(claims["aud"], POWERBI);
    assert_eq!(claims["appid"], w.world.apps[0].client_id.as_str());
    assert_eq!(
        versions[0].tags["client-id"],
        w.world.apps[0].client_id.as_str()
    );
    // The rotator's app registration has no client secret and its old secret file is gone, so
    // Key Vault accepted a token obtained by the federated exchange for listing and writing.
    let stats = w.world.emulator.stats();
    // The token and the cycle's status record.
    assert_eq!(stats.count(OUTPUT, "SecretSet"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projected_token_with_the_wrong_subject_or_audience_is_refused_with_exit_2() {
    let issuer = Issuer::new();
    let w = WorkloadWorld::start(&issuer).await;
    let cases = [
        (
            "wrong subject",
            issuer.projected_token("system:serviceaccount:default:default", TOKEN_EXCHANGE),
            "AADSTS700213",
        ),
        (
            "wrong audience",
            issuer.projected_token(&service_account_subject(), "api://SomethingElse"),
            "AADSTS700212",
        ),
    ];
    for (what, token, aadsts) in cases {
        std::fs::write(&w.token_file, token).unwrap();
        w.world.emulator.reset_stats();
        let (code, report, stderr) = w.once();
        println!("--- {what}: exit {code}, stderr:\n{stderr}");
        assert_eq!(code, 2, "{what}: stderr: {stderr}\nreport: {report:#}");
        assert!(report.is_null(), "{what}: no report expected: {report:#}");
        assert!(
            stderr.contains(aadsts),
            "{what}: stderr should carry {aadsts}: {stderr}"
        );
        assert!(
            stderr.contains("rotator_credential") && stderr.contains("[credential]"),
            "{what}: stderr should say the rotator's own credential failed: {stderr}"
        );
        assert!(
            stderr.to_ascii_lowercase().contains("workload"),
            "{what}: stderr should name workload identity: {stderr}"
        );
        w.assert_nothing_done();
    }
}
