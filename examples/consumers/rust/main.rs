//! A consumer of a token akv-rotator keeps in Key Vault, following the reading contract
//! (docs/consumers.md) with the official Rust SDK; the contract itself is in `reader.rs`.
//!
//! ```sh
//! cargo run --example consumer -- https://kv-tokens.vault.azure.net/ \
//!   sales-reporting-powerbi-token https://api.powerbi.com/v1.0/myorg/groups
//! ```
//!
//! The Rust SDK has no `DefaultAzureCredential`: the consumer picks the credential of where it
//! runs (workload identity on Kubernetes, managed identity on an Azure host, the developer's
//! Azure CLI login elsewhere).

mod reader;

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, WorkloadIdentityCredential,
};
use azure_security_keyvault_secrets::SecretClient;

fn credential() -> azure_core::Result<Arc<dyn TokenCredential>> {
    if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return Ok(WorkloadIdentityCredential::new(None)?);
    }
    if std::env::var_os("IDENTITY_ENDPOINT").is_some() || std::env::var_os("MSI_ENDPOINT").is_some()
    {
        return Ok(ManagedIdentityCredential::new(None)?);
    }
    Ok(DeveloperToolsCredential::new(None)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [vault, secret, url] = args.as_slice() else {
        anyhow::bail!("usage: consumer VAULT_URL SECRET_NAME API_URL");
    };
    let client = SecretClient::new(vault, credential()?, None)?;
    let mut reader = reader::TokenReader::new(client, secret, reader::MARGIN);
    let answer = reader::call(&mut reader, &reqwest::Client::new(), url).await?;
    if let Some(exp) = reader.expires_on() {
        eprintln!(
            "{secret}: token valid until {exp}, read {} time(s)",
            reader.reads
        );
    }
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
