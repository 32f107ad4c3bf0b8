//! Diagnostics: what every layer of the compiler reports, and how it is shown.
//!
//! Each layer (YAML, config, catalog, SQL) collects [`Diagnostic`]s instead of stopping at the first
//! problem, so one `dozerc check` shows everything that is wrong. A diagnostic points into a file of the
//! [`SourceMap`] by byte [`Span`]s in the file's *original* text (before `{{ENV}}` substitution, so a
//! secret is never echoed) and is rendered by `miette` as `file:line:col` with the offending text
//! underlined, or as JSON for tools.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;

/// Index of a file in the [`SourceMap`].
pub type FileId = usize;

/// A half-open byte range `start..end` in one file of the [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start,
            end: end.max(start),
        }
    }

    /// The smallest span covering both (which must be in the same file).
    pub fn to(self, other: Span) -> Span {
        debug_assert_eq!(self.file, other.file);
        Span::new(
            self.file,
            self.start.min(other.start),
            self.end.max(other.end),
        )
    }
}

/// One file the compiler has read, kept for rendering diagnostics.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user named it (relative paths stay relative, for stable output).
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// The byte range to underline for a span, as (start, length): the span snapped outwards to
    /// character boundaries and clamped to the text, or the one character at its start when it is
    /// empty (so a "missing here" label is visible).
    pub fn visible_range(&self, span: Span) -> (usize, usize) {
        let text = &self.text;
        let mut start = span.start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = span.end.clamp(start, text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if end == start {
            end += text[start..].chars().next().map_or(0, char::len_utf8);
        }
        (start, end - start)
    }

    /// Byte offset of a 1-based line and 1-based character column, clamped to the text.
    pub fn offset(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let line_text = &self.text[start..];
        let line_text = &line_text[..line_text.find('\n').unwrap_or(line_text.len())];
        start
            + line_text
                .char_indices()
                .nth(col.saturating_sub(1))
                .map_or(line_text.len(), |(i, _)| i)
    }
}

/// All files read in one compiler run.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(name.into(), text.into()));
        self.files.len() - 1
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.files[span.file]
            .text
            .get(span.start..span.end)
            .unwrap_or("")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem (or remark) with the user's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable kind, e.g. `config::unknown-key`; tools match on it.
    pub code: &'static str,
    pub message: String,
    /// The first label is the primary location.
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: vec![],
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn note(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds the hint for a misspelt `name`: "did you mean `x`?" when one of `candidates` is close,
    /// else `otherwise(candidates)` (usually the list of valid names).
    pub fn suggest(
        self,
        name: &str,
        candidates: &[&str],
        otherwise: impl FnOnce(&[&str]) -> String,
    ) -> Self {
        match did_you_mean(name, candidates.iter().copied()) {
            Some(hint) => self.help(hint),
            None => self.help(otherwise(candidates)),
        }
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }
}

/// A collector that layers push into; never stops at the first problem.
#[derive(Debug, Default)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.list
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warning_count(&self) -> usize {
        self.list
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter()
    }

    /// Diagnostics in reading order: by file, then position; unlocated ones last.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.list.iter().collect();
        v.sort_by_key(|d| {
            d.primary_span()
                .map_or((usize::MAX, 0), |s| (s.file, s.start))
        });
        v
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.list.extend(other.list);
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<T: IntoIterator<Item = Diagnostic>>(&mut self, iter: T) {
        self.list.extend(iter);
    }
}

/// How to show diagnostics on a terminal.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            width: 100,
        }
    }
}

/// Renders a diagnostic as text: header, `file:line:col`, the source with the span underlined, help.
pub fn render(d: &Diagnostic, map: &SourceMap, opts: RenderOptions) -> String {
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_context_lines(1)
        .with_links(false);
    let mut out = String::new();
    let report = MietteAdapter::new(d, map);
    // Writing into a String cannot fail; a rendering failure would be a miette bug, so fall back to a
    // plain line rather than lose the diagnostic.
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{}: {}\n", d.code, d.message);
    }
    out
}

/// Serializable form of a diagnostic for `--format json`.
#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub severity: Severity,
    pub code: &'static str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<&'a str>,
    pub labels: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
pub struct JsonLabel<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub text: &'a str,
    pub message: &'a str,
}

pub fn to_json<'a>(d: &'a Diagnostic, map: &'a SourceMap) -> JsonDiagnostic<'a> {
    JsonDiagnostic {
        severity: d.severity,
        code: d.code,
        message: &d.message,
        help: d.help.as_deref(),
        labels: d
            .labels
            .iter()
            .map(|l| {
                let f = map.file(l.span.file);
                let (line, column) = f.line_col(l.span.start);
                let (end_line, end_column) = f.line_col(l.span.end);
                JsonLabel {
                    file: &f.name,
                    line,
                    column,
                    end_line,
                    end_column,
                    text: map.snippet(l.span),
                    message: &l.message,
                }
            })
            .collect(),
    }
}

/// Presents one [`Diagnostic`] to miette. Labels in the primary label's file are drawn together;
/// labels in other files become related reports, each with its own source.
struct MietteAdapter {
    severity: Severity,
    code: &'static str,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    related: Vec<MietteAdapter>,
}

impl MietteAdapter {
    fn new(d: &Diagnostic, map: &SourceMap) -> Self {
        let primary_file = d.primary_span().map(|s| s.file);
        let mut labels = vec![];
        let mut related = vec![];
        for (i, l) in d.labels.iter().enumerate() {
            let text = (!l.message.is_empty()).then(|| l.message.clone());
            let (start, len) = map.file(l.span.file).visible_range(l.span);
            if Some(l.span.file) == primary_file {
                let ls = if i == 0 {
                    LabeledSpan::new_primary_with_span(text, (start, len))
                } else {
                    LabeledSpan::new_with_span(text, (start, len))
                };
                labels.push(ls);
            } else {
                let f = map.file(l.span.file);
                related.push(MietteAdapter {
                    severity: Severity::Note,
                    code: d.code,
                    message: l.message.clone(),
                    help: None,
                    source: Some(NamedSource::new(&f.name, f.text.clone())),
                    labels: vec![LabeledSpan::new_with_span(None, (start, len))],
                    related: vec![],
                });
            }
        }
        MietteAdapter {
            severity: d.severity,
            code: d.code,
            message: d.message.clone(),
            help: d.help.clone(),
            source: primary_file.map(|id| {
                let f = map.file(id);
                NamedSource::new(&f.name, f.text.clone())
            }),
            labels,
            related,
        }
    }
}

impl fmt::Debug for MietteAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for MietteAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteAdapter {}

impl miette::Diagnostic for MietteAdapter {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

/// "Did you mean" support: the candidate closest to `name` by edit distance, if close enough.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            let (a, b) = (c.chars().count(), name.chars().count());
            // Close enough, and not a complete replacement (`x` is no typo of `y`).
            *d <= (a.max(b) / 3).max(1) && *d < a.min(b)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions of
/// adjacent characters each cost 1 (so `nmae` is one edit from `name`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// `hint: did you mean `x`?` text when a close candidate exists.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_round_trips() {
        let mut m = SourceMap::default();
        let id = m.add("a", "ab\nçd\n");
        let f = m.file(id);
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(5), (2, 2));
        assert_eq!(f.offset(2, 2), 5);
        assert_eq!(f.offset(9, 9), f.text.len());
    }

    #[test]
    fn visible_ranges_never_split_characters() {
        let mut m = SourceMap::default();
        let id = m.add("a", "xéy");
        let f = m.file(id);
        assert_eq!(f.visible_range(Span::new(id, 2, 2)), (1, 2));
        assert_eq!(f.visible_range(Span::new(id, 0, 2)), (0, 3));
        assert_eq!(f.visible_range(Span::new(id, 9, 9)), (4, 0));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("CustomerId", ["CustomerID", "Country"]),
            Some("CustomerID")
        );
        assert_eq!(
            closest("Quantty", ["Quantity", "UnitPrice"]),
            Some("Quantity")
        );
        assert_eq!(closest("zzz", ["Quantity"]), None);
        assert_eq!(closest("nmae", ["id", "name"]), Some("name"));
        assert_eq!(closest("é", ["a", "b"]), None);
    }
}
