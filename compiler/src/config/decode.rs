//! Hand-written decoding of the spanned YAML tree into typed config values.
//!
//! Every helper reports a located diagnostic and returns `None` instead of failing, so decoding goes on
//! and the user sees all problems at once: unknown keys (with "did you mean"), wrong types, missing
//! required keys, duplicate keys.

use crate::diagnostic::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::yaml::{Node, NodeKind};

/// A value together with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl Spanned<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

pub struct Decoder<'d> {
    pub diags: &'d mut Diagnostics,
}

/// The entries of one YAML mapping, checked against the keys it may have.
pub struct Fields<'n> {
    /// Where the mapping is (its first line), for "missing key" errors.
    pub span: Span,
    /// What the mapping is, for messages: "connection `pg`", "endpoint #2".
    pub what: String,
    entries: Vec<(&'n str, Span, &'n Node)>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, n)| *n)
    }

    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, s, _)| *s)
    }
}

impl Decoder<'_> {
    pub fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn type_error(&mut self, node: &Node, expected: &str, what: &str) {
        self.diags.push(
            Diagnostic::error(
                "config::wrong-type",
                format!("expected {expected} for {what}, found {}", node.kind_name()),
            )
            .label(node.span, format!("expected {expected}"))
            .help(format!(
                "write {expected} here; docs/config.md shows every key's form"
            )),
        );
    }

    /// Checks that `node` is a mapping whose keys are all in `allowed`. Unknown and repeated keys are
    /// errors; the mapping is still returned so its known keys get checked too.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            if node.as_scalar().is_some_and(|s| s.is_null()) {
                return Some(Fields {
                    span: node.span,
                    what: what.to_string(),
                    entries: vec![],
                });
            }
            self.type_error(node, "a mapping", what);
            return None;
        };
        let mut out: Vec<(&str, Span, &Node)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Some(key) = k.as_scalar().map(|s| s.value.as_str()) else {
                self.type_error(k, "a plain key", &format!("a key of {what}"));
                continue;
            };
            if !allowed.contains(&key) {
                let mut d = Diagnostic::error(
                    "config::unknown-key",
                    format!("unknown key `{key}` in {what}"),
                )
                .label(k.span, "not a key of this section");
                d = d.suggest(key, allowed, |names| {
                    format!("the keys allowed here are: {}", names.join(", "))
                });
                self.error(d);
                continue;
            }
            if let Some((_, first, _)) = out.iter().find(|(seen, _, _)| *seen == key) {
                let first = *first;
                self.error(
                    Diagnostic::error(
                        "config::duplicate-key",
                        format!("key `{key}` is given twice in {what}"),
                    )
                    .label(k.span, "repeated here")
                    .label(first, "first given here")
                    .help("remove one of them"),
                );
                continue;
            }
            out.push((key, k.span, v));
        }
        Some(Fields {
            span: node.span,
            what: what.to_string(),
            entries: out,
        })
    }

    /// A key that must be present; reports it missing at the mapping.
    pub fn required<'n>(&mut self, f: &Fields<'n>, key: &str, example: &str) -> Option<&'n Node> {
        let n = f.get(key);
        if n.is_none() {
            self.error(
                Diagnostic::error(
                    "config::missing-key",
                    format!("{} is missing the required key `{key}`", f.what),
                )
                .label(f.span, format!("`{key}` is missing here"))
                .help(format!("add `{key}: {example}`")),
            );
        }
        n
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match node.as_scalar() {
            Some(s) if !s.is_null() => Some(Spanned::new(s.value.clone(), node.span)),
            _ => {
                self.type_error(node, "a string", what);
                None
            }
        }
    }

    /// A non-empty string that names something (a connection, a table...).
    pub fn name(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let s = self.string(node, what)?;
        if s.value.trim().is_empty() {
            self.error(
                Diagnostic::error("config::empty-name", format!("{what} must not be empty"))
                    .label(node.span, "empty")
                    .help("give it a name"),
            );
            return None;
        }
        Some(s)
    }

    pub fn uint(&mut self, node: &Node, what: &str, max: u64) -> Option<Spanned<u64>> {
        let parsed = node
            .as_scalar()
            .filter(|s| s.plain)
            .and_then(|s| s.value.replace('_', "").parse::<u64>().ok());
        match parsed {
            Some(v) if v <= max => Some(Spanned::new(v, node.span)),
            Some(v) => {
                self.error(
                    Diagnostic::error(
                        "config::out-of-range",
                        format!("{what} is {v}, above the maximum {max}"),
                    )
                    .label(node.span, "too large")
                    .help(format!("use a value from 0 to {max}")),
                );
                None
            }
            None => {
                self.type_error(node, "a non-negative whole number", what);
                None
            }
        }
    }

    /// A duration as SQL writes them (`'10 MINUTES'`), in milliseconds.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Spanned<i64>> {
        let s = self.string(node, what)?;
        match dozer_types::parse::parse_duration(&s.value) {
            Some(d) => Some(Spanned::new(d.num_milliseconds(), s.span)),
            None => {
                self.error(
                    Diagnostic::error(
                        "config::bad-duration",
                        format!("{what} `{}` is not a duration", s.value),
                    )
                    .label(s.span, "expected e.g. 1 HOUR")
                    .help("write '<number> <unit>' with unit MILLISECOND(S), SECOND(S), MINUTE(S), HOUR(S) or DAY(S)"),
                );
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node
            .as_scalar()
            .filter(|s| s.plain)
            .map(|s| s.value.as_str())
        {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.type_error(node, "true or false", what);
                None
            }
        }
    }

    /// The items of a list (a null value is an empty list).
    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Scalar(s) if s.is_null() => &[],
            _ => {
                self.type_error(node, "a list", what);
                &[]
            }
        }
    }

    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        let items = self.list(node, what);
        items
            .iter()
            .filter_map(|n| self.name(n, &format!("an entry of {what}")))
            .collect()
    }

    /// The `!Tag` of a node, which must be one of `allowed`.
    pub fn tag(&mut self, node: &Node, what: &str, allowed: &[&str]) -> Option<String> {
        let list = allowed
            .iter()
            .map(|t| format!("!{t}"))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(tag) = node.tag.as_deref() else {
            self.error(
                Diagnostic::error("config::missing-tag", format!("{what} needs a kind tag"))
                    .label(node.span, "no `!Kind` tag here")
                    .help(format!("start the value with one of {list}")),
            );
            return None;
        };
        let name = tag.trim_start_matches('!');
        if let Some(t) = allowed.iter().find(|t| **t == name) {
            return Some(t.to_string());
        }
        let mut d = Diagnostic::error(
            "config::unknown-tag",
            format!("unknown kind `{tag}` for {what}"),
        )
        .label(node.span, "unknown kind");
        d = match did_you_mean(name, allowed.iter().copied()) {
            Some(h) => d.help(format!("{h} (kinds: {list})")),
            None => d.help(format!("kinds allowed here: {list}")),
        };
        self.error(d);
        None
    }

    /// Reports a tag where none is expected.
    pub fn no_tag(&mut self, node: &Node, what: &str) {
        if let Some(tag) = &node.tag {
            self.error(
                Diagnostic::error(
                    "config::unexpected-tag",
                    format!("{what} takes no `{tag}` tag"),
                )
                .label(node.span, "unexpected tag")
                .help("remove the tag"),
            );
        }
    }

    /// A value from a fixed set of words.
    pub fn choice(&mut self, node: &Node, what: &str, allowed: &[&str]) -> Option<Spanned<String>> {
        let s = self.string(node, what)?;
        if allowed.contains(&s.value.as_str()) {
            return Some(s);
        }
        let mut d = Diagnostic::error(
            "config::invalid-value",
            format!("`{}` is not a valid {what}", s.value),
        )
        .label(s.span, "invalid value");
        d = match did_you_mean(&s.value, allowed.iter().copied()) {
            Some(h) => d.help(format!("{h} (one of: {})", allowed.join(", "))),
            None => d.help(format!("use one of: {}", allowed.join(", "))),
        };
        self.error(d);
        None
    }
}
