//! TLS for every listener: a CA generated at start, one server certificate for `localhost`,
//! `127.0.0.1` and `::1`, and the accept loop that serves an axum router over HTTPS.
//! Owns no HTTP semantics.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::state::Shared;

/// The generated CA and the acceptor that presents the server certificate it signed.
pub(crate) struct Tls {
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

/// Installs the aws-lc-rs provider process-wide; a provider installed earlier is kept.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Generates the CA and the server certificate and builds the rustls server config.
pub(crate) fn generate() -> anyhow::Result<Tls> {
    install_crypto_provider();
    let ca_key = KeyPair::generate().context("generating CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "akv-emulator local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).context("self-signing CA")?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().context("generating server key")?;
    let mut server_params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .context("server params")?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .context("signing server certificate")?;

    let chain = vec![
        CertificateDer::from(server_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("building TLS server config")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}

/// Serves `app` over HTTPS on `listener` until the returned task is aborted (which also
/// ends every open connection). Connections and handshakes are counted in `shared`'s stats
/// under `service`.
///
/// Connections are kept alive as Key Vault and Entra ID keep them (HTTP/1.1 persistent
/// connections, no idle timeout shorter than the client's): closing them sooner would make
/// every client pay a new TCP and TLS handshake that Azure does not ask of it.
pub(crate) fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shared: Arc<Shared>,
    service: String,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let (tcp, _peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            shared.connection_accepted(&service);
            let acceptor = acceptor.clone();
            let app = app.clone();
            let (shared, service) = (shared.clone(), service.clone());
            connections.spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        shared.tls_handshake(&service);
                        tls
                    }
                    Err(error) => {
                        tracing::debug!(%error, "TLS handshake failed");
                        return;
                    }
                };
                let service = TowerToHyperService::new(app);
                if let Err(error) =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await
                {
                    tracing::debug!(%error, "connection ended with an error");
                }
            });
            while connections.try_join_next().is_some() {}
        }
    })
}
