//! Splitting SQL texts into statements and parsing each on its own (sqlparser), with positions
//! mapped back to the YAML or `.sql` file they came from.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::config::SqlText;
use crate::diagnostic::{Diagnostic, Diagnostics, Span};

/// Maps sqlparser line/column positions in one SQL text to file spans.
#[derive(Clone, Debug)]
pub struct SqlSource<'a> {
    pub text: &'a SqlText,
    line_starts: Vec<usize>,
}

impl<'a> SqlSource<'a> {
    pub fn new(text: &'a SqlText) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SqlSource { text, line_starts }
    }

    /// Byte offset of a 1-based line and character column.
    fn offset(&self, line: u64, col: u64) -> usize {
        let Some(&start) = self.line_starts.get((line as usize).saturating_sub(1)) else {
            return self.text.text.len();
        };
        let rest = &self.text.text[start..];
        let rest = &rest[..rest.find('\n').unwrap_or(rest.len())];
        start
            + rest
                .char_indices()
                .nth((col as usize).saturating_sub(1))
                .map_or(rest.len(), |(i, _)| i)
    }

    /// The file span of a sqlparser span (`fallback` when the AST node has no position).
    pub fn span(&self, s: sqlparser::tokenizer::Span, fallback: Span) -> Span {
        if s.start.line == 0 {
            return fallback;
        }
        let start = self.offset(s.start.line, s.start.column);
        let end = self.offset(s.end.line, s.end.column).max(start);
        self.text.span(start, end)
    }
}

/// One parsed statement and where it is.
pub struct ParsedStatement<'a> {
    pub statement: Statement,
    pub source: SqlSource<'a>,
    /// The statement's text, for comments in generated code.
    pub sql: String,
    /// The whole statement in its file.
    pub span: Span,
}

/// Splits and parses every SQL text; syntax errors become diagnostics.
pub fn parse<'a>(texts: &'a [SqlText], diags: &mut Diagnostics) -> Vec<ParsedStatement<'a>> {
    let dialect = PostgreSqlDialect {};
    let mut out = vec![];
    for text in texts {
        let source = SqlSource::new(text);
        let tokens = match Tokenizer::new(&dialect, &text.text).tokenize_with_location() {
            Ok(t) => t,
            Err(e) => {
                let at = source.offset(e.location.line, e.location.column);
                diags.push(
                    Diagnostic::error("sql::syntax", format!("SQL syntax error: {}", e.message))
                        .label(text.span(at, at + 1), e.message.clone())
                        .help("check quotes: strings use '...' and names with capitals or spaces use \"...\""),
                );
                continue;
            }
        };
        for chunk in split_statements(tokens) {
            let first = chunk.iter().find(|t| !is_trivia(&t.token)).map(|t| t.span);
            let last = chunk
                .iter()
                .rev()
                .find(|t| !is_trivia(&t.token))
                .map(|t| t.span);
            let (Some(first), Some(last)) = (first, last) else {
                continue;
            };
            let start = source.offset(first.start.line, first.start.column);
            let end = source.offset(last.end.line, last.end.column).max(start);
            let span = text.span(start, end);
            let sql = text.text[start..end].to_string();
            let mut parser = Parser::new(&dialect).with_tokens_with_locations(chunk);
            let result =
                parser
                    .parse_statement()
                    .and_then(|stmt| match parser.peek_token().token {
                        Token::EOF => Ok(stmt),
                        _ => parser.expected("end of statement (a `;`)", parser.peek_token()),
                    });
            match result {
                Ok(statement) => out.push(ParsedStatement {
                    statement,
                    source: source.clone(),
                    sql,
                    span,
                }),
                Err(e) => diags.push(syntax_error(&source, &e.to_string(), span)),
            }
        }
    }
    out
}

fn is_trivia(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_) | Token::SemiColon | Token::EOF)
}

/// Splits a token stream at `;` outside parentheses.
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = vec![];
    let mut current = vec![];
    let mut depth = 0usize;
    for t in tokens {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::SemiColon if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            Token::EOF => continue,
            _ => {}
        }
        current.push(t);
    }
    out.push(current);
    out.retain(|c: &Vec<TokenWithSpan>| c.iter().any(|t| !is_trivia(&t.token)));
    out
}

/// Turns sqlparser's "... at Line: L, Column: C" into a located diagnostic.
fn syntax_error(source: &SqlSource, message: &str, statement: Span) -> Diagnostic {
    let message = message.trim_start_matches("sql parser error: ");
    let (text, span) = match message.rsplit_once(" at Line: ") {
        Some((text, pos)) => {
            let mut nums = pos
                .split(", Column: ")
                .map(|n| n.trim().parse::<u64>().unwrap_or(0));
            let (line, col) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
            let at = source.offset(line, col);
            // Underline the word at the position (at least its first character).
            let rest = &source.text.text[at..];
            let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let end = at
                + if word > 0 {
                    word
                } else {
                    rest.chars().next().map_or(0, char::len_utf8)
                };
            (text, source.text.span(at, end))
        }
        // Errors at the end of input carry no position: point at the statement's last character.
        None if message.contains("EOF") => (
            message,
            Span::new(
                statement.file,
                statement.end.saturating_sub(1),
                statement.end,
            ),
        ),
        None => (message, statement),
    };
    Diagnostic::error("sql::syntax", format!("SQL syntax error: {text}"))
        .label(span, "here")
        .help("each statement has the form `SELECT ... INTO <table> FROM ...;`")
}
