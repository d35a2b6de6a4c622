//! Client assertions at the token endpoint: certificate credentials (`iss` = `sub` = client
//! id, `x5t` / `x5t#S256` naming a registered certificate) and federated identity credentials
//! (an external issuer's token whose `iss`/`sub`/`aud` match a declared record, signed by a
//! key in that issuer's JWKS). Returns AADSTS errors; certificate parsing is `crate::cert`.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use time::OffsetDateTime;

use super::error::AadError;
use crate::jwt::{split_jws, verify_rsa_components, verify_rsa_der};
use crate::state::Registration;

/// The only client assertion type Entra accepts.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const FIC_DOCS: &str = "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation";
const CERT_DOCS: &str = "Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .";

fn invalid_client(code: u32, description: String) -> AadError {
    AadError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        code,
        description,
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn entra_time(t: OffsetDateTime) -> String {
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
        u8::from(t.month()),
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The `aud` claim as a list (a string or an array of strings).
fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks `exp` (required, not past) and `nbf` (if present, not more than 5 minutes ahead).
fn check_time(claims: &Value, now: OffsetDateTime) -> Result<(), AadError> {
    let n = now.unix_timestamp();
    let exp = claims.get("exp").and_then(Value::as_i64);
    let nbf = claims.get("nbf").and_then(Value::as_i64);
    let ok = exp.is_some_and(|e| e > n) && nbf.is_none_or(|b| b - 300 <= n);
    if ok {
        return Ok(());
    }
    let show = |v: Option<i64>| {
        v.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .map(entra_time)
            .unwrap_or_else(|| "(none)".to_string())
    };
    Err(invalid_client(
        700024,
        format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. {CERT_DOCS}",
            entra_time(now),
            show(nbf),
            show(exp)
        ),
    ))
}

/// Verifies `assertion` for the app `client_id` in `tenant`. `token_urls` are the audiences a
/// certificate assertion may name. Returns `Ok(())` when the app may have a token.
pub(crate) fn verify(
    assertion: &str,
    client_id: &str,
    registration: &Registration,
    token_urls: &[String],
    now: OffsetDateTime,
) -> Result<(), AadError> {
    let (header, claims, signing_input, sig) = split_jws(assertion).map_err(|why| {
        invalid_client(50027, format!("JWT token is invalid or malformed. {why}"))
    })?;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss.eq_ignore_ascii_case(client_id) {
        verify_certificate(
            &header,
            &claims,
            &signing_input,
            &sig,
            client_id,
            registration,
            token_urls,
            now,
        )
    } else {
        verify_federated(&header, &claims, &signing_input, &sig, registration, now)
    }
}

#[allow(clippy::too_many_arguments)]
fn verify_certificate(
    header: &Value,
    claims: &Value,
    signing_input: &str,
    sig: &[u8],
    client_id: &str,
    registration: &Registration,
    token_urls: &[String],
    now: OffsetDateTime,
) -> Result<(), AadError> {
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let s256 = header.get("x5t#S256").and_then(Value::as_str);
    let s1 = header.get("x5t").and_then(Value::as_str);
    let thumbprint = s256
        .or(s1)
        .and_then(|t| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok())
        .unwrap_or_default();
    let cert = registration.certificates.iter().find(|c| {
        if s256.is_some() {
            c.sha256 == thumbprint
        } else {
            c.sha1 == thumbprint
        }
    });
    let by_client = format!(
        "Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments if you are using MS Graph",
        hex(&thumbprint)
    );
    let Some(cert) = cert else {
        return Err(invalid_client(
            700027,
            format!(
                "Client assertion failed signature validation. (Reason - The key was not found., {by_client})"
            ),
        ));
    };
    if now > cert.end || now < cert.start {
        let reason = if now > cert.end {
            "The key used is expired."
        } else {
            "The key used is not yet valid."
        };
        return Err(invalid_client(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is expired on application. [Reason - {reason}, {by_client}, Found key 'Start={}, End={}']",
                entra_time(cert.start),
                entra_time(cert.end)
            ),
        ));
    }
    if !verify_rsa_der(alg, &cert.public_key, signing_input.as_bytes(), sig) {
        return Err(invalid_client(
            700027,
            format!(
                "Client assertion failed signature validation. (Reason - The provided signature value did not match the expected signature value., {by_client})"
            ),
        ));
    }
    check_time(claims, now)?;
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if !sub.eq_ignore_ascii_case(client_id) {
        return Err(invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .".to_string(),
        ));
    }
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    let aud_ok = audiences(claims)
        .iter()
        .any(|a| token_urls.iter().any(|u| norm(u) == norm(a)));
    if !aud_ok {
        return Err(invalid_client(
            700023,
            format!("Client assertion audience claim does not match Realm issuer. {CERT_DOCS}"),
        ));
    }
    Ok(())
}

fn verify_federated(
    header: &Value,
    claims: &Value,
    signing_input: &str,
    sig: &[u8],
    registration: &Registration,
    now: OffsetDateTime,
) -> Result<(), AadError> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let records: Vec<_> = registration
        .federated
        .iter()
        .filter(|f| f.issuer == iss)
        .collect();
    if records.is_empty() {
        return Err(invalid_client(
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{iss}'. {FIC_DOCS}"
            ),
        ));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = header.get("kid").and_then(Value::as_str);
    let verified = records.iter().any(|f| {
        f.jwks
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
            .filter(|k| kid.is_none_or(|kid| k.get("kid").and_then(Value::as_str) == Some(kid)))
            .any(|k| {
                let comp = |name: &str| {
                    k.get(name)
                        .and_then(Value::as_str)
                        .and_then(|v| URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok())
                };
                match (comp("n"), comp("e")) {
                    (Some(n), Some(e)) => {
                        verify_rsa_components(alg, &n, &e, signing_input.as_bytes(), sig)
                    }
                    _ => false,
                }
            })
    });
    if !verified {
        return Err(invalid_client(
            700027,
            format!(
                "Client assertion failed signature validation. (Reason - The key was not found or the signature did not verify against the issuer '{iss}' keys.)"
            ),
        ));
    }
    check_time(claims, now)?;
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let records: Vec<_> = records.into_iter().filter(|f| f.subject == sub).collect();
    if records.is_empty() {
        return Err(invalid_client(
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. {FIC_DOCS}"
            ),
        ));
    }
    let auds = audiences(claims);
    if !records
        .iter()
        .any(|f| f.audiences.iter().any(|a| auds.contains(a)))
    {
        return Err(invalid_client(
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{}'. {FIC_DOCS}",
                auds.join(",")
            ),
        ));
    }
    Ok(())
}
