//! Unknown keys, all of them in one run, each with its line and a "did you mean" when a known
//! key is close. The raw model accepts unknown keys; `serde_ignored` reports the path of each one
//! while it deserializes, the struct at that path names the keys it knows (read from its
//! `Deserialize` impl, so the list cannot drift from the model), and the TOML document's spans
//! give the line.

use serde::Deserialize;
use serde::de::{self, Visitor};
use toml::de::{DeTable, DeValue};

use super::alerts::{RawAlertsConfig, RawSinkConfig};
use super::raw::*;
use super::{ConfigIssue, line_col};

/// One segment of a path in the document.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// The segments of a `serde_ignored` path, without the private wrapper keys of `toml::Spanned`.
fn segments(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    let mut out = match path {
        serde_ignored::Path::Root => return Vec::new(),
        serde_ignored::Path::Seq { parent, index } => {
            let mut p = segments(parent);
            p.push(Segment::Index(*index));
            p
        }
        serde_ignored::Path::Map { parent, key } => {
            let mut p = segments(parent);
            p.push(Segment::Key(key.clone()));
            p
        }
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => segments(parent),
    };
    out.retain(|s| !matches!(s, Segment::Key(k) if k.starts_with("$__")));
    out
}

/// Deserializes the raw model, collecting every unknown key instead of stopping at the first.
/// On a deserialization error (a syntax error, a missing or mistyped value), the unknown keys
/// seen up to that point come with it.
pub(super) fn deserialize(
    text: &str,
) -> Result<(RawConfig, Vec<ConfigIssue>), (toml::de::Error, Vec<ConfigIssue>)> {
    if let Some(raw) = super::segments::split_parse(text) {
        // Debug builds (every test) check that the road app by app ends where the whole
        // parse does, spans included.
        #[cfg(debug_assertions)]
        {
            let whole = toml::from_str::<RawConfig>(text);
            debug_assert_eq!(
                format!("{raw:?}"),
                format!(
                    "{:?}",
                    whole.expect("the whole parse fails where the split one passed")
                ),
                "config parsed app by app differs from the whole parse"
            );
        }
        return Ok((raw, Vec::new()));
    }
    let mut unknown: Vec<Vec<Segment>> = Vec::new();
    let result = toml::de::Deserializer::parse(text).and_then(|de| {
        serde_ignored::deserialize::<_, _, RawConfig>(de, |path| unknown.push(segments(&path)))
    });
    // The document again, as a table, only to place and explain unknown keys: a config without
    // any is not parsed twice (at 50,000 apps the second parse alone held about 150 MB).
    let doc = if unknown.is_empty() {
        None
    } else {
        DeTable::parse(text).ok()
    };
    let issues = unknown
        .iter()
        .filter_map(|path| issue(text, doc.as_ref().map(|d| d.get_ref()), path))
        .collect();
    match result {
        Ok(raw) => Ok((raw, issues)),
        Err(e) => Err((e, issues)),
    }
}

fn issue(text: &str, doc: Option<&DeTable<'_>>, path: &[Segment]) -> Option<ConfigIssue> {
    let (Segment::Key(name), parent) = path.split_last()? else {
        return None;
    };
    let dotted = dotted(path);
    let known = known_keys(parent);
    // A close spelling, else a known key this one begins (`tenant` for `tenant_id`).
    let suggestion = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < name.len())
        .min()
        .map(|(_, k)| k)
        .or_else(|| {
            known
                .iter()
                .copied()
                .filter(|k| name.len() >= 4 && k.starts_with(name.as_str()))
                .min_by_key(|k| k.len())
        })
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    let (line, column) = doc
        .and_then(|d| key_offset(d, path))
        .map(|o| line_col(text, o))
        .unwrap_or((1, 1));
    Some(ConfigIssue {
        line,
        column,
        key: Some(dotted),
        message: format!(
            "unknown key `{name}`{suggestion}{}",
            if suggestion.is_empty() && !known.is_empty() {
                format!(" (known here: {})", known.join(", "))
            } else {
                String::new()
            }
        ),
    })
}

/// `apps[0].targets[1].scop`.
fn dotted(path: &[Segment]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Where the key at `path` starts in the text.
fn key_offset(doc: &DeTable<'_>, path: &[Segment]) -> Option<usize> {
    let (Segment::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = doc.iter().find(|(k, _)| k.get_ref().as_ref() == first)?;
    if rest.is_empty() {
        return Some(key.span().start);
    }
    value_offset(value.get_ref(), rest)
}

fn value_offset(value: &DeValue<'_>, path: &[Segment]) -> Option<usize> {
    match (value, path.first()?) {
        (DeValue::Table(t), Segment::Key(_)) => key_offset(t, path),
        (DeValue::Array(a), Segment::Index(i)) => {
            let item = a.get(*i)?;
            if path.len() == 1 {
                Some(item.span().start)
            } else {
                value_offset(item.get_ref(), &path[1..])
            }
        }
        _ => None,
    }
}

/// The keys the struct at `parent` knows (indices ignored: `apps[3]` is an app).
fn known_keys(parent: &[Segment]) -> &'static [&'static str] {
    let names: Vec<&str> = parent
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect();
    match names.as_slice() {
        [] => fields::<RawConfig>(),
        ["daemon"] => fields::<RawDaemon>(),
        ["shard"] => fields::<RawShard>(),
        ["limits"] => fields::<super::limits::RawLimits>(),
        ["custom_cloud"] => fields::<RawCustomCloud>(),
        ["expiry"] | ["apps", "expiry"] => fields::<RawThresholds>(),
        ["credential"] => fields::<RawCredential>(),
        ["apps"] => fields::<RawApp>(),
        ["apps", "rotate"] => fields::<RawRotate>(),
        ["apps", "targets"] => fields::<RawTarget>(),
        ["alerts"] => fields::<RawAlertsConfig>(),
        ["alerts", "sinks"] => fields::<RawSinkConfig>(),
        _ => &[],
    }
}

/// The field names a struct's `Deserialize` impl asks for (serde passes them to
/// `deserialize_struct`).
fn fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = FieldProbe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

struct FieldProbe(Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for &mut FieldProbe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("fields read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// `; did you mean "client-secret"?` when `value` is a near miss of one of `choices` (case,
/// `_` for `-`, one or two letters), else nothing.
pub fn did_you_mean(value: &str, choices: &[&str]) -> String {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace('_', "-");
    let v = norm(value);
    choices
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&v, &norm(c)), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < v.len().max(1))
        .min()
        .map(|(_, c)| format!("; did you mean {c:?}?"))
        .unwrap_or_default()
}
