//! A YAML tree that remembers where every node came from.
//!
//! serde-style deserializers lose positions after the first error, and we want *every* problem in a
//! config reported at its own `file:line:col`. So we build a small spanned tree from `yaml-rust2`'s
//! event parser and let [`crate::config`] decode it by hand.
//!
//! `{{ENV_VAR}}` placeholders are substituted in the text before parsing (as Dozer does, so a
//! placeholder may stand anywhere, even unquoted). Spans are mapped back to the *original* text, so
//! diagnostics underline what the user wrote and never print a substituted secret.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Diagnostics, FileId, Span};

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub value: String,
    /// Quoted and block scalars are always strings; only plain ones can be numbers, booleans, null.
    pub plain: bool,
    /// Original-text offset of every char boundary of `value` (plus one past the end), so that a
    /// position inside the value (an SQL error, say) maps back to the file.
    pub offsets: Vec<usize>,
    /// The environment variable the whole value came from (`password: "{{PG_PASSWORD}}"`), so
    /// that a secret can be read where it is used instead of being copied.
    pub env: Option<String>,
    /// Every part of the value that came from a variable, as byte ranges of `value`
    /// (`postgresql://app:{{PG_PASSWORD}}@db/shop`: the password's).
    pub env_parts: Vec<EnvPart>,
}

/// A part of a scalar's value that came from an environment variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvPart {
    pub start: usize,
    pub end: usize,
    pub name: String,
}

impl Scalar {
    /// Original-text offset of byte `i` of the value.
    pub fn offset_of(&self, i: usize) -> usize {
        let char_idx = self.value.get(..i).map_or(0, |s| s.chars().count());
        self.offsets
            .get(char_idx)
            .or(self.offsets.last())
            .copied()
            .unwrap_or(0)
    }

    pub fn is_null(&self) -> bool {
        self.plain && matches!(self.value.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// A local tag such as `!Postgres`, including the `!`.
    pub tag: Option<String>,
    /// For scalars the value itself; for collections their first line.
    pub span: Span,
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The number of nodes in this tree.
    pub fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar(_) => 0,
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) if s.is_null() => "null",
            NodeKind::Scalar(s) if s.plain && s.value.parse::<f64>().is_ok() => "a number",
            NodeKind::Scalar(s) if s.plain && matches!(s.value.as_str(), "true" | "false") => {
                "a boolean"
            }
            NodeKind::Scalar(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// One `{{VAR}}` replaced in the text: its range before and after substitution.
#[derive(Clone, Debug)]
struct Replacement {
    orig: (usize, usize),
    new: (usize, usize),
    /// The variable's name (`None`: an unset one, left as written).
    name: Option<String>,
}

/// Maps offsets of the substituted text back to the original text.
#[derive(Debug, Default)]
struct OffsetMap {
    replacements: Vec<Replacement>,
}

impl OffsetMap {
    fn to_original(&self, off: usize) -> usize {
        let i = self.replacements.partition_point(|r| r.new.0 <= off);
        if i == 0 {
            return off;
        }
        let r = &self.replacements[i - 1];
        if off < r.new.1 {
            r.orig.0
        } else {
            off - r.new.1 + r.orig.1
        }
    }
}

/// Replaces `{{NAME}}` placeholders from `env`; an unknown name is an error at the placeholder.
fn substitute_env(
    file: FileId,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> (String, OffsetMap) {
    let mut out = String::with_capacity(text.len());
    let mut map = OffsetMap::default();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{").map(|i| rest + i) {
        let Some(close) = text[open + 2..].find("}}").map(|i| open + 2 + i) else {
            break;
        };
        let name = text[open + 2..close].trim();
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        out.push_str(&text[rest..open]);
        if !valid {
            out.push_str(&text[open..close + 2]);
            rest = close + 2;
            continue;
        }
        match env(name) {
            Some(value) => {
                let new_start = out.len();
                out.push_str(&value);
                map.replacements.push(Replacement {
                    orig: (open, close + 2),
                    new: (new_start, out.len()),
                    name: Some(name.to_string()),
                });
            }
            None => {
                diags.push(
                    Diagnostic::error(
                        "config::missing-env",
                        format!("environment variable `{name}` is not set"),
                    )
                    .label(Span::new(file, open, close + 2), "used here")
                    .help(format!(
                        "set it before running dozerc, e.g. `export {name}=...`"
                    )),
                );
                let new_start = out.len();
                out.push_str(&text[open..close + 2]);
                map.replacements.push(Replacement {
                    orig: (open, close + 2),
                    new: (new_start, out.len()),
                    name: None,
                });
            }
        }
        rest = close + 2;
    }
    out.push_str(&text[rest..]);
    (out, map)
}

/// Positions in the substituted text.
struct Text<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    map: &'a OffsetMap,
    file: FileId,
}

impl Text<'_> {
    fn offset(&self, m: &Marker) -> usize {
        let Some(&start) = self.line_starts.get(m.line().saturating_sub(1)) else {
            return self.text.len();
        };
        let line = &self.text[start..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        start
            + line
                .char_indices()
                .nth(m.col())
                .map_or(line.len(), |(i, _)| i)
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(
            self.file,
            self.map.to_original(start),
            self.map.to_original(end),
        )
    }

    /// End of the line that `off` is on.
    fn line_end(&self, off: usize) -> usize {
        self.text[off.min(self.text.len())..]
            .find('\n')
            .map_or(self.text.len(), |i| off + i)
    }

    /// For each char of `value`, the substituted-text offset it was read from, found by walking the
    /// source from the scalar's start: equal chars match, and indentation, line folding, quotes and
    /// escapes in the source are skipped. Exact for plain and literal block scalars (what SQL uses),
    /// close for the rest.
    fn align(&self, from: usize, value: &str) -> Vec<usize> {
        let src = self.text;
        let mut j = from.min(src.len());
        let mut out = Vec::with_capacity(value.len() + 1);
        for c in value.chars() {
            let here = src[j..].chars().next();
            if here == Some(c) {
                out.push(j);
                j += c.len_utf8();
            } else if c.is_whitespace() {
                if let Some(w) = here.filter(|w| w.is_whitespace()) {
                    out.push(j);
                    j += w.len_utf8();
                } else {
                    out.push(j);
                }
            } else {
                let found = src[j..]
                    .char_indices()
                    .take(256)
                    .find(|&(_, s)| s == c)
                    .map(|(k, _)| j + k);
                match found {
                    Some(k) => {
                        out.push(k);
                        j = k + c.len_utf8();
                    }
                    None => out.push(j),
                }
            }
        }
        out.push(j);
        out
    }
}

enum Frame {
    Seq {
        start: usize,
        tag: Option<String>,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        tag: Option<String>,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder<'a> {
    text: Text<'a>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    extra_document: Option<Span>,
    /// How many more nodes alias expansion may create.
    alias_budget: usize,
    alias_overflow: Option<Span>,
}

/// Nodes that alias expansion may create in one file: far more than any config needs.
const ALIAS_EXPANSION_LIMIT: usize = 100_000;

fn tag_name(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.handle, t.suffix))
}

impl Builder<'_> {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn scalar(&mut self, value: String, style: TScalarStyle, mark: Marker) -> Node {
        let start = self.text.offset(&mark);
        let plain = style == TScalarStyle::Plain;
        let subst_offsets = self.text.align(start, &value);
        let mut end = *subst_offsets.last().unwrap_or(&start);
        if matches!(
            style,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
        ) {
            let quote = if style == TScalarStyle::SingleQuoted {
                '\''
            } else {
                '"'
            };
            if self.text.text[end..].starts_with(quote) {
                end += 1;
            }
        }
        let env = match (subst_offsets.first(), subst_offsets.last()) {
            (Some(&first), Some(&last)) if last > first => self
                .text
                .map
                .replacements
                .iter()
                .find(|r| r.new == (first, last))
                .and_then(|r| r.name.clone()),
            _ => None,
        };
        // A char of the value at each substituted offset: a replacement inside the value starts
        // and ends at char boundaries of it.
        let byte_at = |offset: usize| {
            subst_offsets
                .iter()
                .position(|&o| o == offset)
                .map(|char_idx| {
                    value
                        .char_indices()
                        .nth(char_idx)
                        .map_or(value.len(), |(b, _)| b)
                })
        };
        let env_parts = self
            .text
            .map
            .replacements
            .iter()
            .filter_map(|r| {
                let name = r.name.clone()?;
                Some(EnvPart {
                    start: byte_at(r.new.0)?,
                    end: byte_at(r.new.1)?,
                    name,
                })
            })
            .collect();
        let offsets = subst_offsets
            .iter()
            .map(|&o| self.text.map.to_original(o))
            .collect();
        Node {
            kind: NodeKind::Scalar(Scalar {
                value,
                plain,
                offsets,
                env,
                env_parts,
            }),
            tag: None,
            span: self.text.span(start, end.max(start)),
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 && self.extra_document.is_none() {
                    let at = self.text.offset(&mark);
                    self.extra_document = Some(self.text.span(at, self.text.line_end(at)));
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let mut node = self.scalar(value, style, mark);
                node.tag = tag_name(tag);
                if self.documents <= 1 {
                    self.push(node, anchor);
                }
            }
            Event::SequenceStart(anchor, tag) => {
                let start = self.text.offset(&mark);
                self.stack.push(Frame::Seq {
                    start,
                    tag: tag_name(tag),
                    anchor,
                    items: vec![],
                });
            }
            Event::MappingStart(anchor, tag) => {
                let start = self.text.offset(&mark);
                self.stack.push(Frame::Map {
                    start,
                    tag: tag_name(tag),
                    anchor,
                    entries: vec![],
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq {
                        start,
                        tag,
                        anchor,
                        items,
                    }) => (
                        Node {
                            kind: NodeKind::Seq(items),
                            tag,
                            span: self.head_span(start),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        start,
                        tag,
                        anchor,
                        entries,
                        ..
                    }) => (
                        Node {
                            kind: NodeKind::Map(entries),
                            tag,
                            span: self.head_span(start),
                        },
                        anchor,
                    ),
                    None => return,
                };
                if self.documents <= 1 {
                    self.push(node.0, node.1);
                }
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return;
                };
                // Aliases are expanded by copying; cap the copies so that nested aliases (a
                // "billion laughs" file) cannot exhaust memory.
                let size = node.size();
                if size > self.alias_budget {
                    if self.alias_overflow.is_none() {
                        let at = self.text.offset(&mark);
                        self.alias_overflow = Some(self.text.span(at, self.text.line_end(at)));
                    }
                    return;
                }
                self.alias_budget -= size;
                let node = node.clone();
                self.push(node, 0);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

impl Builder<'_> {
    /// A collection's span is its first line: enough to point at, and it keeps diagnostics short.
    fn head_span(&self, start: usize) -> Span {
        let end = self.text.line_end(start);
        self.text.span(start, end.max(start))
    }
}

/// Substitutes `{{ENV}}` placeholders and parses one YAML document into a spanned tree.
/// Returns `None` (with diagnostics) when the text is not valid YAML.
pub fn parse(
    file: FileId,
    original: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Option<Node> {
    let (text, map) = substitute_env(file, original, env, diags);
    let line_starts = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut builder = Builder {
        text: Text {
            text: &text,
            line_starts,
            map: &map,
            file,
        },
        stack: vec![],
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        extra_document: None,
        alias_budget: ALIAS_EXPANSION_LIMIT,
        alias_overflow: None,
    };
    let mut parser = Parser::new_from_str(&text);
    if let Err(e) = parser.load(&mut builder, true) {
        let at = builder.text.offset(e.marker());
        let span = builder.text.span(at, (at + 1).min(text.len()));
        diags.push(
            Diagnostic::error("yaml::syntax", format!("invalid YAML: {}", e.info()))
                .label(span, e.info().to_string())
                .help("check the indentation and quoting around this position"),
        );
        return None;
    }
    if let Some(span) = builder.alias_overflow {
        diags.push(
            Diagnostic::error("yaml::alias-expansion", "YAML aliases expand to too many nodes")
                .label(span, "expansion limit reached here")
                .help(format!("aliases may create at most {ALIAS_EXPANSION_LIMIT} nodes per file; write the values out instead")),
        );
        return None;
    }
    if let Some(span) = builder.extra_document {
        diags.push(
            Diagnostic::error(
                "yaml::multiple-documents",
                "a config file holds exactly one YAML document",
            )
            .label(span, "a second document starts here")
            .help("split the documents into separate files and pass them all to dozerc"),
        );
    }
    builder.root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::SourceMap;

    fn parse_str(text: &str) -> (SourceMap, Option<Node>, Diagnostics) {
        let mut map = SourceMap::default();
        let id = map.add("t.yaml", text);
        let mut d = Diagnostics::default();
        let env = |k: &str| (k == "PW").then(|| "sec\"ret".to_string());
        let node = parse(id, text, &env, &mut d);
        (map, node, d)
    }

    fn get<'a>(n: &'a Node, key: &str) -> &'a Node {
        let NodeKind::Map(es) = &n.kind else {
            panic!("not a map")
        };
        &es.iter()
            .find(|(k, _)| k.as_scalar().unwrap().value == key)
            .unwrap()
            .1
    }

    #[test]
    fn scalar_spans_cover_the_value() {
        let text = "a: hello\nb:\n  c: 'q x'\n  d: !Tag\n    e: 1\n";
        let (map, node, d) = parse_str(text);
        assert!(!d.has_errors());
        let root = node.unwrap();
        assert_eq!(map.snippet(get(&root, "a").span), "hello");
        assert_eq!(map.snippet(get(get(&root, "b"), "c").span), "'q x'");
        let tagged = get(get(&root, "b"), "d");
        assert_eq!(tagged.tag.as_deref(), Some("!Tag"));
        assert_eq!(map.snippet(get(tagged, "e").span), "1");
    }

    #[test]
    fn block_scalar_offsets_map_each_char() {
        let text = "sql: |\n  SELECT a\n  FROM t;\n";
        let (map, node, _) = parse_str(text);
        let root = node.unwrap();
        let s = get(&root, "sql").as_scalar().unwrap().clone();
        let from = s.value.find("FROM").unwrap();
        let off = s.offset_of(from);
        assert_eq!(&map.file(0).text[off..off + 4], "FROM");
    }

    #[test]
    fn env_substitution_keeps_original_spans() {
        let text = "pw: {{PW}}\nother: {{NOPE}}\n";
        let (map, node, d) = parse_str(text);
        let root = node.unwrap();
        assert_eq!(get(&root, "pw").as_scalar().unwrap().value, "sec\"ret");
        assert_eq!(map.snippet(get(&root, "pw").span), "{{PW}}");
        let errs: Vec<_> = d.iter().collect();
        assert_eq!(errs.len(), 1);
        assert_eq!(map.snippet(errs[0].labels[0].span), "{{NOPE}}");
    }

    #[test]
    fn a_variable_inside_a_value_is_a_located_part_of_it() {
        let (_, node, d) = parse_str("url: postgresql://app:{{PW}}@db/shop\n");
        assert!(!d.has_errors());
        let root = node.unwrap();
        let url = get(&root, "url").as_scalar().unwrap();
        assert_eq!(url.value, "postgresql://app:sec\"ret@db/shop");
        assert_eq!(url.env, None, "not the whole value");
        let part = &url.env_parts[0];
        assert_eq!(
            (&url.value[part.start..part.end], part.name.as_str()),
            ("sec\"ret", "PW")
        );
    }

    #[test]
    fn nested_aliases_cannot_exhaust_memory() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let (_, node, d) = parse_str(&text);
        assert!(node.is_none());
        assert!(d.iter().any(|d| d.code == "yaml::alias-expansion"));
        // Ordinary aliases still work.
        let (_, node, d) = parse_str("base: &b {x: 1}\ncopy: *b\n");
        assert!(!d.has_errors());
        assert_eq!(get(&node.unwrap(), "copy").size(), 3);
    }

    #[test]
    fn syntax_errors_are_located() {
        let (_, node, d) = parse_str("a: [1, 2\nb: 3\n");
        assert!(node.is_none());
        assert!(d.has_errors());
    }
}
