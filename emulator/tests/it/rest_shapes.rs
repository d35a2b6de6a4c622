//! Conformance of the emulator's Key Vault secret responses with the published REST API: each
//! operation is driven over HTTPS and its JSON body checked against the models of
//! `secrets.json` 2025-07-01 (Azure/azure-rest-api-specs), kept as hand-written fixtures in
//! `fixtures/rest/`. A body passes when every field it has is one the model defines, with the
//! model's JSON type (recursively: attributes, tags, list items, the error's innererror), and
//! the fields the spec's example response carries are there.

use crate::helpers::*;
use serde_json::{Map, Value, json};

const API_VERSION: &str = "2025-07-01";
const DEFINITIONS: &str = include_str!("fixtures/rest/secrets-2025-07-01.definitions.json");
const OPERATIONS: &str = include_str!("fixtures/rest/secrets-2025-07-01.operations.json");

/// The spec's models and operations, as the fixtures record them.
struct Spec {
    definitions: Map<String, Value>,
    operations: Map<String, Value>,
}

impl Spec {
    fn load() -> Spec {
        let parse = |text: &str, key: &str| -> Map<String, Value> {
            let doc: Value = serde_json::from_str(text).expect("fixture is JSON");
            assert_eq!(doc["source"]["api-version"], API_VERSION);
            doc[key].as_object().expect("fixture map").clone()
        };
        Spec {
            definitions: parse(DEFINITIONS, "definitions"),
            operations: parse(OPERATIONS, "operations"),
        }
    }

    /// Every difference between `body` and the response of `operation`; empty when it conforms.
    fn violations(&self, operation: &str, status: u16, body: &Value) -> Vec<String> {
        let op = &self.operations[operation];
        let mut out = Vec::new();
        match op["status"].as_u64() {
            Some(expected) if expected != u64::from(status) => {
                out.push(format!("status {status}, the spec says {expected}"));
            }
            None if status < 400 => out.push(format!("status {status} for an error answer")),
            _ => {}
        }
        match op["model"].as_str() {
            Some(model) => self.check(model, body, "$", &mut out),
            None if !body.is_null() => out.push(format!("a body where the spec has none: {body}")),
            None => {}
        }
        for field in op["present"].as_array().expect("present") {
            let field = field.as_str().expect("field name");
            if body.get(field).is_none() {
                out.push(format!("$.{field} missing (the spec's example has it)"));
            }
        }
        out
    }

    /// Checks `value` at `path` against the type `ty` of the fixtures.
    fn check(&self, ty: &str, value: &Value, path: &str, out: &mut Vec<String>) {
        if let Some(ty) = ty.strip_suffix("|null") {
            if !value.is_null() {
                self.check(ty, value, path, out);
            }
            return;
        }
        let mut wrong = |what: &str| out.push(format!("{path}: {what} expected, got {value}"));
        match ty {
            "string" if !value.is_string() => wrong("a string"),
            "boolean" if !value.is_boolean() => wrong("a boolean"),
            "integer" if !(value.is_i64() || value.is_u64()) => wrong("an integer"),
            "string" | "boolean" | "integer" => {}
            "map:string" => match value.as_object() {
                None => wrong("an object of strings"),
                Some(map) => {
                    for (k, v) in map {
                        self.check("string", v, &format!("{path}.{k}"), out);
                    }
                }
            },
            _ => match ty.strip_prefix("array:") {
                Some(item) => match value.as_array() {
                    None => wrong("an array"),
                    Some(items) => {
                        for (i, v) in items.iter().enumerate() {
                            self.check(item, v, &format!("{path}[{i}]"), out);
                        }
                    }
                },
                None => self.check_model(ty, value, path, out),
            },
        }
    }

    fn check_model(&self, model: &str, value: &Value, path: &str, out: &mut Vec<String>) {
        let def = self
            .definitions
            .get(model)
            .unwrap_or_else(|| panic!("fixture lacks model {model}"));
        if let Some(allowed) = def["enum"].as_array() {
            if !allowed.contains(value) {
                out.push(format!("{path}: {value} is not a {model}"));
            }
            return;
        }
        let Some(fields) = value.as_object() else {
            out.push(format!("{path}: an object ({model}) expected, got {value}"));
            return;
        };
        let properties = def["properties"].as_object().expect("properties");
        for (name, v) in fields {
            match properties.get(name).and_then(Value::as_str) {
                Some(ty) => self.check(ty, v, &format!("{path}.{name}"), out),
                None => out.push(format!("{path}.{name}: not a field of {model}")),
            }
        }
    }
}

/// A client of one vault speaking the spec's API version.
struct Vault(VaultClient);

impl Vault {
    async fn new(emu: &akv_emulator::EmulatorHandle) -> Vault {
        Vault(VaultClient::new(emu, WRITER).await)
    }

    /// One request; the body as JSON (`Null` when empty).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let (status, text) = self.0.send(method, path, API_VERSION, body).await;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        (status, body)
    }

    /// Sets a secret with every optional field the spec lets a caller set.
    async fn set_full(&self, name: &str) -> (u16, Value) {
        let body = json!({
            "value": "shape-value",
            "contentType": "text/plain",
            "tags": {"owner": "shapes", "purpose": "conformance"},
            "attributes": {"enabled": true, "nbf": 1_700_000_000, "exp": 4_000_000_000_i64},
        });
        self.call("PUT", &format!("secrets/{name}"), Some(body))
            .await
    }
}

/// The version of a secret from its bundle's `id`.
fn version_of(bundle: &Value) -> &str {
    bundle["id"]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .expect("a bundle id ending in the version")
}

fn assert_conforms(spec: &Spec, operation: &str, (status, body): &(u16, Value)) {
    let violations = spec.violations(operation, *status, body);
    assert!(
        violations.is_empty(),
        "{operation} differs from secrets.json {API_VERSION}:\n  {}\nbody: {body:#}",
        violations.join("\n  ")
    );
}

#[test]
fn the_checker_rejects_what_the_spec_does_not_define() {
    let spec = Spec::load();
    let body = json!({
        "id": "https://v/secrets/a/1",
        "value": 7,
        "attributes": {"enabled": "yes", "created": 1.5, "recoveryLevel": "Forever", "extra": 1},
        "tags": {"k": 1},
        "unknown": true,
    });
    let found = spec.violations("GetSecret", 200, &body).join("\n");
    for expected in [
        "$.value: a string expected",
        "$.attributes.enabled: a boolean expected",
        "$.attributes.created: an integer expected",
        "$.attributes.recoveryLevel: \"Forever\" is not a DeletionRecoveryLevel",
        "$.attributes.extra: not a field of SecretAttributes",
        "$.tags.k: a string expected",
        "$.unknown: not a field of SecretBundle",
    ] {
        assert!(found.contains(expected), "{expected:?} not in:\n{found}");
    }
    let error = json!({"error": {"code": "X", "innererror": {"code": 1}}});
    let found = spec.violations("error", 404, &error).join("\n");
    assert!(
        found.contains("$.error.innererror.code: a string expected"),
        "{found}"
    );
    let missing = spec.violations("GetDeletedSecret", 200, &json!({"id": "x"}));
    assert!(
        missing.iter().any(|m| m.contains("$.recoveryId missing")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn set_secret_answers_a_secret_bundle() {
    let (spec, emu) = (Spec::load(), emulator().await);
    let kv = Vault::new(&emu).await;
    let set = kv.set_full("shape-set").await;
    assert_conforms(&spec, "SetSecret", &set);
    assert_eq!(set.1["tags"]["owner"], "shapes");
}

#[tokio::test]
async fn get_secret_answers_a_secret_bundle_with_or_without_a_version() {
    let (spec, emu) = (Spec::load(), emulator().await);
    let kv = Vault::new(&emu).await;
    let (_, set) = kv.set_full("shape-get").await;
    assert_conforms(
        &spec,
        "GetSecret",
        &kv.call("GET", "secrets/shape-get", None).await,
    );
    let id = set["id"].as_str().expect("id");
    let by_version = kv
        .call("GET", &format!("{id}?api-version={API_VERSION}"), None)
        .await;
    assert_conforms(&spec, "GetSecret", &by_version);
    assert_eq!(by_version.1["value"], "shape-value");
}

#[tokio::test]
async fn get_secret_versions_pages_secret_items_with_a_next_link() {
    let (spec, emu) = (Spec::load(), emulator().await);
    let kv = Vault::new(&emu).await;
    kv.set_full("shape-versions").await;
    kv.set_full("shape-versions").await;
    let first = kv
        .call("GET", "secrets/shape-versions/versions?maxresults=1", None)
        .await;
    assert_conforms(&spec, "GetSecretVersions", &first);
    let next = first.1["nextLink"]
        .as_str()
        .expect("a second page")
        .to_string();
    let last = kv.call("GET", &next, None).await;
    assert_conforms(&spec, "GetSecretVersions", &last);
    assert_eq!(last.1["value"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn get_secrets_pages_secret_items_with_a_next_link() {
    let (spec, emu) = (Spec::load(), emulator().await);
    let kv = Vault::new(&emu).await;
    kv.set_full("shape-list").await;
    let mut url = "secrets?maxresults=1".to_string();
    let mut pages = 0;
    loop {
        let page = kv.call("GET", &url, None).await;
        assert_conforms(&spec, "GetSecrets", &page);
        pages += 1;
        match page.1["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert!(
        pages >= 2,
        "one item a page over several secrets: {pages} page(s)"
    );
}

#[tokio::test]
async fn update_secret_answers_a_secret_bundle() {
    let (spec, emu) = (Spec::load(), emulator().await);
    let kv = Vault::new(&emu).await;
    let (_, set) = kv.set_full("shape-update").await;
    let version = version_of(&set);
    let patch = json!({"contentType": "application/jwt", "tags": {"k": "v"}, "attributes": {"enabled": true}});
    let updated = kv
        .call(
            "PATCH",
            &format!("secrets/shape-update/{version}"),
            Some(patch),
        )
        .await;
    assert_conforms(&spec, "UpdateSecret", &updated);
    assert_eq!(updated.1["contentType"], "application/jwt");
}

#[tokio::test]
async fn delete_get_deleted_list_deleted_recover_and_purge_answer_their_models() {
    let (spec, emu) = (Spec::load(), emulator().await);
    let kv = Vault::new(&emu).await;
    kv.set_full("shape-deleted").await;
    kv.set_full("shape-purged").await;

    assert_conforms(
        &spec,
        "DeleteSecret",
        &kv.call("DELETE", "secrets/shape-deleted", None).await,
    );
    let deleted = kv.call("GET", "deletedsecrets/shape-deleted", None).await;
    assert_conforms(&spec, "GetDeletedSecret", &deleted);
    assert!(
        deleted.1.get("value").is_none(),
        "a deleted secret's value is not returned"
    );
    let listed = kv.call("GET", "deletedsecrets", None).await;
    assert_conforms(&spec, "GetDeletedSecrets", &listed);
    assert!(!listed.1["value"].as_array().expect("value[]").is_empty());
    let recovered = kv
        .call("POST", "deletedsecrets/shape-deleted/recover", None)
        .await;
    assert_conforms(&spec, "RecoverDeletedSecret", &recovered);

    assert_eq!(kv.call("DELETE", "secrets/shape-purged", None).await.0, 200);
    let purged = kv.call("DELETE", "deletedsecrets/shape-purged", None).await;
    assert_conforms(&spec, "PurgeDeletedSecret", &purged);
}

#[tokio::test]
async fn errors_answer_a_key_vault_error_with_code_message_and_innererror() {
    let (spec, emu) = (Spec::load(), emulator().await);
    let kv = Vault::new(&emu).await;

    let (status, missing) = kv.call("GET", "secrets/shape-nowhere", None).await;
    assert_eq!(status, 404);
    assert_conforms(&spec, "error", &(status, missing.clone()));
    assert_eq!(missing["error"]["code"], "SecretNotFound");

    let (_, set) = kv.set_full("shape-disabled").await;
    let version = version_of(&set);
    let off = json!({"attributes": {"enabled": false}});
    kv.call(
        "PATCH",
        &format!("secrets/shape-disabled/{version}"),
        Some(off),
    )
    .await;
    let (status, disabled) = kv.call("GET", "secrets/shape-disabled", None).await;
    assert_eq!(status, 403);
    assert_conforms(&spec, "error", &(status, disabled.clone()));
    assert_eq!(disabled["error"]["innererror"]["code"], "SecretDisabled");
}
