//! Adapters to Azure services: Key Vault (the only user of the Key Vault SDK), Entra ID's token
//! endpoint, Microsoft Graph, the rotator's own identity, and certificate credentials. They
//! know nothing of the cycle, the report or alerts.

pub mod certificate;
pub mod entra;
pub mod graph;
pub mod identity;
pub mod vault;
