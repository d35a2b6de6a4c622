//! Parsing a config with many apps one app at a time.
//!
//! The TOML parser builds the whole document (its token list and a tree with a span on every
//! key and value) before anything is deserialized: about 6.5 KB per app, so 50,000 apps took
//! over 300 MB for a file of 18 MB. Each `[[apps]]` table is self-contained, so the document is
//! cut at its top-level table headers: every app (its `[[apps]]` header with the `[apps.…]` and
//! `[[apps.targets]]` tables after it) is parsed on its own, and the rest of the document is
//! parsed once with the apps' bytes blanked out, so that every span still points into the file.
//!
//! This is only a faster road to the same result. Whenever the document is not laid out so that
//! the cut is certain (an `apps` key outside `[[apps]]` headers, a quoted header key, an
//! `[apps.…]` table away from its app), or any part has a syntax error, a wrong type or an
//! unknown key, [`split_parse`] returns `None` and the caller parses the whole document as
//! before, so messages and their lines come from that single parse.

use serde::Deserialize;
use toml::Spanned;
use toml_parser::lexer::TokenKind;

use super::raw::*;

/// The document without its apps, and the apps parsed one by one, spans pointing into `text`.
/// `None` when the document must be parsed whole (see the module documentation).
pub(super) fn split_parse(text: &str) -> Option<RawConfig> {
    let apps = app_ranges(text)?;
    if apps.is_empty() {
        return None;
    }
    // The rest of the document ends where the apps that run to its end begin (usually all of
    // them); apps before that are blanked, keeping every offset. The parser sizes its token
    // list by the text's length, so the apps at the end are left out rather than blanked.
    let mut tail = apps.len();
    let mut end = text.len();
    while tail > 0 && apps[tail - 1].end == end {
        tail -= 1;
        end = apps[tail].start;
    }
    let mut blanked = String::with_capacity(end);
    let mut at = 0;
    for r in &apps[..tail] {
        blanked.push_str(&text[at..r.start]);
        blanked.extend(std::iter::repeat_n(' ', r.end - r.start));
        at = r.end;
    }
    blanked.push_str(&text[at..end]);
    let mut root: RawConfig = strict(&blanked)?;
    drop(blanked);
    if !root.apps.is_empty() {
        return None;
    }
    root.apps.reserve_exact(apps.len());
    for r in apps {
        let mut one: OneApp = strict(&text[r.clone()])?;
        let app = match (one.apps.pop(), one.apps.is_empty()) {
            (Some(app), true) => app,
            _ => return None,
        };
        root.apps.push(shift(app, r.start, RawApp::shifted));
    }
    Some(root)
}

/// A document holding exactly one `[[apps]]` table.
#[derive(Deserialize)]
struct OneApp {
    apps: Vec<Spanned<RawApp>>,
}

/// Deserializes `text`, or `None` on any error or unknown key.
fn strict<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
    let de = toml::de::Deserializer::parse(text).ok()?;
    let mut unknown = false;
    let value = serde_ignored::deserialize(de, |_| unknown = true).ok()?;
    (!unknown).then_some(value)
}

/// The byte ranges of the document's apps, each from its `[[apps]]` header to the next
/// top-level header that is not an `[apps.…]` table (or the end). `None` when the layout
/// leaves any doubt.
fn app_ranges(text: &str) -> Option<Vec<std::ops::Range<usize>>> {
    let source = toml_parser::Source::new(text);
    let mut tokens = source.lex().peekable();
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    // The app being read: its start, and whether a header that is not one of its tables came
    // since (an `[apps.…]` table after that would belong to it from afar).
    let mut current: Option<usize> = None;
    // Nesting of `[` and `{` inside values; headers only occur at depth 0.
    let mut depth = 0usize;
    let mut line_start = true;
    // Inside the root table (before the first header), where an `apps` key would be the apps.
    let mut in_root = true;
    while let Some(token) = tokens.next() {
        let kind = token.kind();
        match kind {
            TokenKind::Eof => break,
            TokenKind::Newline => {
                line_start = depth == 0;
                continue;
            }
            TokenKind::Whitespace | TokenKind::Comment => continue,
            TokenKind::LeftSquareBracket if depth == 0 && line_start => {
                let header_start = token.span().start();
                let array = tokens
                    .next_if(|t| t.kind() == TokenKind::LeftSquareBracket)
                    .is_some();
                let mut keys: Vec<&str> = Vec::new();
                loop {
                    let t = tokens.next()?;
                    match t.kind() {
                        TokenKind::Whitespace | TokenKind::Dot => {}
                        TokenKind::Atom => keys.push(&text[t.span().start()..t.span().end()]),
                        TokenKind::RightSquareBracket => break,
                        // A quoted key could spell `apps`; leave such documents to the
                        // whole parse.
                        _ => return None,
                    }
                }
                if array && tokens.next()?.kind() != TokenKind::RightSquareBracket {
                    return None;
                }
                in_root = false;
                match (keys.first().copied(), keys.len(), array) {
                    (Some("apps"), 1, true) => {
                        if let Some(start) = current.take() {
                            ranges.push(start..header_start);
                        }
                        current = Some(header_start);
                    }
                    (Some("apps"), 1, false) => return None,
                    // A table of the app being read (`[apps.rotate]`, `[[apps.targets]]`).
                    (Some("apps"), _, _) => {
                        current?;
                    }
                    _ => {
                        if let Some(start) = current.take() {
                            ranges.push(start..header_start);
                        }
                    }
                };
                line_start = false;
                continue;
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.checked_sub(1)?
            }
            TokenKind::Atom
                if in_root
                    && depth == 0
                    && line_start
                    && &text[token.span().start()..token.span().end()] == "apps" =>
            {
                return None;
            }
            TokenKind::LiteralString | TokenKind::BasicString if in_root && line_start => {
                return None;
            }
            _ => {}
        }
        line_start = false;
    }
    if let Some(start) = current {
        ranges.push(start..text.len());
    }
    Some(ranges)
}

/// `value` with its span, and every span inside it, moved `by` bytes on.
fn shift<T>(value: Spanned<T>, by: usize, inner: impl FnOnce(T, usize) -> T) -> Spanned<T> {
    let span = value.span();
    Spanned::new(
        span.start + by..span.end + by,
        inner(value.into_inner(), by),
    )
}

fn moved<T>(value: Spanned<T>, by: usize) -> Spanned<T> {
    shift(value, by, |v, _| v)
}

fn moved_opt<T>(value: Option<Spanned<T>>, by: usize) -> Option<Spanned<T>> {
    value.map(|v| moved(v, by))
}

impl RawApp {
    /// Every span moved `by` bytes on. Written out field by field: a field added to the model
    /// does not compile here until it is moved too.
    fn shifted(self, by: usize) -> Self {
        let RawApp {
            name,
            tenant_id,
            client_id,
            client_secret_name,
            client_certificate_name,
            certificate_algorithm,
            rotate,
            vault,
            owner,
            expiry,
            targets,
        } = self;
        RawApp {
            name: moved(name, by),
            tenant_id: moved(tenant_id, by),
            client_id: moved(client_id, by),
            client_secret_name: moved_opt(client_secret_name, by),
            client_certificate_name: moved_opt(client_certificate_name, by),
            certificate_algorithm: moved_opt(certificate_algorithm, by),
            rotate: rotate.map(|r| shift(r, by, RawRotate::shifted)),
            vault: moved_opt(vault, by),
            owner: moved_opt(owner, by),
            expiry: expiry.map(|e| e.shifted(by)),
            targets: {
                let mut targets: Vec<_> = targets
                    .into_iter()
                    .map(|t| shift(t, by, RawTarget::shifted))
                    .collect();
                // The parser's vector grows to 4 entries for a single target.
                targets.shrink_to_fit();
                targets
            },
        }
    }
}

impl RawRotate {
    fn shifted(self, by: usize) -> Self {
        let RawRotate {
            before_expiry,
            lifetime,
            grace,
            propagation_wait,
        } = self;
        RawRotate {
            before_expiry: moved_opt(before_expiry, by),
            lifetime: moved_opt(lifetime, by),
            grace: moved_opt(grace, by),
            propagation_wait: moved_opt(propagation_wait, by),
        }
    }
}

impl RawThresholds {
    fn shifted(self, by: usize) -> Self {
        let RawThresholds {
            warning,
            critical,
            graph,
        } = self;
        RawThresholds {
            warning: moved_opt(warning, by),
            critical: moved_opt(critical, by),
            graph,
        }
    }
}

impl RawTarget {
    fn shifted(self, by: usize) -> Self {
        let RawTarget {
            scope,
            secret,
            audience,
            vault,
            refresh_before,
            required_roles,
            probe,
        } = self;
        RawTarget {
            scope: moved(scope, by),
            secret: moved(secret, by),
            audience: moved_opt(audience, by),
            vault: moved_opt(vault, by),
            refresh_before: moved_opt(refresh_before, by),
            required_roles,
            probe: moved_opt(probe, by),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TENANT: &str = "11111111-2222-3333-4444-555555555555";
    const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn app(name: &str, extra: &str) -> String {
        format!(
            "[[apps]]\nname = \"{name}\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n\
             client_secret_name = \"{name}-secret\"\n{extra}\n\
             [[apps.targets]]\nscope = \"https://analysis.windows.net/powerbi/api/.default\"\n\
             secret = \"{name}-token\"\n"
        )
    }

    /// Apps between other tables, with sub-tables, comments, CRLF, a multi-line array whose
    /// lines start with `[`, and strings that look like headers.
    fn mixed() -> String {
        format!(
            "# \"[[apps]]\" in a comment\nvault = \"https://kv-tokens.vault.azure.net\"\n\
             refresh_before = \"20m\"\n\n[credential]\nkind = \"workload-identity\"\n\n{}\
             [apps.rotate]\nbefore_expiry = \"30d\"\n[apps.expiry]\nwarning = \"45d\"\n\n\
             [daemon]\nschedule = \"*/5 * * * *\"\n\n{}\r\n  [[apps]]  # indented\r\n\
             name = \"c\"\r\ntenant_id = \"{TENANT}\"\r\nclient_id = \"{CLIENT}\"\r\n\
             client_secret_name = \"c-secret\"\r\n[[apps.targets]]\r\n\
             scope = \"https://graph.microsoft.com/.default\"\r\nsecret = \"c-token\"\r\n\
             required_roles = [\r\n\"Application.Read.All\",\r\n]\r\n\
             [expiry]\nwarning = \"60d\"\n{}",
            app("a", "owner = \"team-a@example.com\""),
            app("b", "owner = '''\n[[apps]]\nname = \"not an app\"\n'''"),
            app("d", "# last"),
        )
    }

    fn whole(text: &str) -> RawConfig {
        toml::from_str(text).expect("whole parse")
    }

    #[test]
    fn apps_parsed_one_by_one_equal_the_whole_parse_spans_included() {
        let text = mixed();
        let split = split_parse(&text).expect("this layout is cut app by app");
        assert_eq!(split.apps.len(), 4);
        assert_eq!(format!("{split:?}"), format!("{:?}", whole(&text)));
        // A span of the third app points at its own text in the file.
        let c = &split.apps[2].get_ref().name;
        assert_eq!(&text[c.span()], "\"c\"");
    }

    #[test]
    fn a_problem_in_a_later_app_is_reported_at_its_line() {
        let text = mixed().replace("c-secret", "c secret");
        assert!(
            split_parse(&text).is_some(),
            "a bad value is not a parse error"
        );
        let line = text
            .lines()
            .position(|l| l.contains("c secret"))
            .expect("the line")
            + 1;
        let err = super::super::parse(Path::new("r.toml"), &text).expect_err("invalid");
        let super::super::ConfigError::Invalid { issues, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(issues[0].line, line, "{issues:?}");
        assert_eq!(issues[0].key.as_deref(), Some("apps[2].client_secret_name"));
    }

    #[test]
    fn layouts_that_leave_doubt_are_parsed_whole() {
        let two = format!("{}{}", app("a", ""), app("b", ""));
        let cases = [
            (
                "no apps",
                "vault = \"https://kv.vault.azure.net\"\n".to_string(),
            ),
            ("inline apps", format!("apps = []\n{}", app("a", ""))),
            (
                "a table of an app after another table",
                format!(
                    "{}[daemon]\nschedule = \"*/5 * * * *\"\n[apps.rotate]\nlifetime = \"90d\"\n",
                    app("a", "")
                ),
            ),
            (
                "quoted header key",
                format!("{}[\"apps\".rotate]\n", app("a", "")),
            ),
            ("apps as a table", format!("[apps]\n{}", app("a", ""))),
            (
                "unknown key in an app",
                two.replace("owner", "ownr")
                    .replace("\n\n", "\nownr = \"x\"\n"),
            ),
            (
                "syntax error in an app",
                two.replace("name = \"b\"", "name = b\""),
            ),
            ("app table before any app", format!("[apps.rotate]\n{two}")),
        ];
        for (case, text) in cases {
            assert!(
                split_parse(&text).is_none(),
                "{case}: expected the whole parse"
            );
        }
        assert!(split_parse(&two).is_some(), "two plain apps");
    }

    #[test]
    fn a_syntax_error_in_an_app_keeps_the_whole_parse_message_and_line() {
        let text =
            format!("{}{}", app("a", ""), app("b", "")).replace("name = \"b\"", "name = b\"");
        let err = super::super::parse(Path::new("r.toml"), &text)
            .expect_err("a syntax error")
            .to_string();
        let line = text
            .lines()
            .position(|l| l.contains("name = b\""))
            .expect("the line")
            + 1;
        assert!(err.contains(&format!("r.toml:{line}:")), "{err}");
    }
}
