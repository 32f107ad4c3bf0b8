//! A mutation fuzzer for the front end: YAML decoding, SQL parsing and binding, endpoint checks and
//! diagnostic rendering, on inputs derived from the config corpus. Any panic is a bug: the front end
//! must turn every input into diagnostics.
//!
//! No I/O happens per input: sources get a fixed sales-like schema, so the SQL binder is exercised
//! without files or databases.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::rng::Rng;
use dozerc::catalog::{Column, TableSchema};
use dozerc::diagnostic::{render, to_json, RenderOptions};
use dozerc::types::SqlType;

/// Runs the whole pure front end on one config text and returns how many queries it bound (a
/// measure of how deep the input got). Panics are the caller's to catch.
pub fn run_front_end(yaml: &str) -> usize {
    let f = crate::front_end::front_end_text("fuzz.yaml", yaml.to_string(), |_| sales_schema());
    for d in f.diags.iter() {
        let _ = render(d, &f.map, RenderOptions::default());
        let _ = to_json(d, &f.map);
    }
    f.queries.len()
}

pub fn sales_schema() -> TableSchema {
    let c = |name: &str, ty, nullable| Column {
        name: name.into(),
        ty,
        nullable,
    };
    TableSchema {
        columns: vec![
            c("InvoiceNo", SqlType::String, false),
            c("StockCode", SqlType::String, false),
            c("Description", SqlType::String, false),
            c("Quantity", SqlType::Int, false),
            c("InvoiceDate", SqlType::Timestamp, false),
            c("UnitPrice", SqlType::Decimal, false),
            c("CustomerID", SqlType::Int, true),
            c("Country", SqlType::String, false),
        ],
        primary_key: vec![],
        row_image: vec![],
    }
}

/// Reads every `.yaml` under the given folders (recursively), sorted.
pub fn corpus(dirs: &[&Path]) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let mut files = vec![];
    for d in dirs {
        walk(d, &mut files);
    }
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

const TOKENS: &[&str] = &[
    ":",
    "- ",
    "!",
    "!Postgres",
    "!LocalStorage",
    "!CSV",
    "!Table",
    "!Jwt",
    "{",
    "}",
    "[",
    "]",
    "{{",
    "}}",
    "{{SET}}",
    "{{UNSET}}",
    "'",
    "\"",
    "|",
    ">",
    "&a",
    "*a",
    "#",
    "\n",
    "\n  ",
    "\t",
    "SELECT ",
    " FROM ",
    " INTO ",
    " GROUP BY ",
    " WHERE ",
    " HAVING ",
    " JOIN ",
    " ON ",
    " LEFT ",
    " UNION ",
    " ALL ",
    " AS ",
    "*",
    ",",
    "(",
    ")",
    ";",
    "NULL",
    "'1 DAY'",
    "TUMBLE(",
    "HOP(",
    "TTL(",
    "window_start",
    "COUNT(",
    "SUM(",
    "AVG(",
    "CASE WHEN ",
    " THEN ",
    " END",
    "CAST(",
    " AS int)",
    "Quantity",
    "CustomerID",
    "sales_data",
    "é",
    "ß",
    "日本",
    "🦀",
    "\u{feff}",
    "0",
    "-1",
    "1e309",
    "99999999999999999999999999999",
];

/// The byte range of the text of the `sql:` block scalar, if the config has one.
fn sql_block(config: &str) -> Option<(usize, usize)> {
    let start = config.find("\nsql: |\n")? + "\nsql: |\n".len();
    let end = config[start..]
        .find("\nendpoints:")
        .map_or(config.len(), |i| start + i);
    Some((start, end))
}

fn mutate(rng: &mut Rng, input: &str, corpus: &[String]) -> String {
    let mut chars: Vec<char> = input.chars().collect();
    for _ in 0..1 + rng.index(4) {
        let len = chars.len();
        match rng.index(7) {
            0 if len > 0 => {
                let a = rng.index(len);
                let b = (a + 1 + rng.index(16)).min(len);
                chars.drain(a..b);
            }
            1 => {
                let at = rng.index(len + 1);
                let tok = TOKENS[rng.index(TOKENS.len())];
                chars.splice(at..at, tok.chars());
            }
            2 if len > 0 => {
                let at = rng.index(len);
                chars[at] = char::from(32 + rng.index(95) as u8);
            }
            3 => {
                let text: String = chars.iter().collect();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.len() > 1 {
                    let a = rng.index(lines.len());
                    let b = rng.index(lines.len());
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
            4 => {
                let other: Vec<char> = corpus[rng.index(corpus.len())].chars().collect();
                if !other.is_empty() {
                    let a = rng.index(other.len());
                    let b = (a + rng.index(200)).min(other.len());
                    let at = rng.index(len + 1);
                    chars.splice(at..at, other[a..b].iter().copied());
                }
            }
            5 => {
                let text: String = chars.iter().collect();
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let l = lines[rng.index(lines.len())].to_string();
                    let at = rng.index(len + 1);
                    chars.splice(at..at, format!("\n{l}\n").chars());
                }
            }
            _ => {
                let at = rng.index(len + 1);
                let n = rng.index(6);
                chars.splice(at..at, std::iter::repeat_n(' ', n));
            }
        }
    }
    chars.into_iter().collect()
}

pub struct FuzzReport {
    pub runs: u64,
    /// Runs whose input got through YAML and config decoding to at least one bound query.
    pub reached_plans: u64,
    pub crashes: Vec<(String, String)>,
}

/// Mutates corpus inputs until `iterations` runs or `time` has passed, whichever first.
pub fn fuzz(corpus: &[String], seed: u64, iterations: u64, time: Duration) -> FuzzReport {
    assert!(!corpus.is_empty(), "empty fuzz corpus");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut report = FuzzReport {
        runs: 0,
        reached_plans: 0,
        crashes: vec![],
    };
    let binding: Vec<&String> = corpus
        .iter()
        .filter(|c| catch_unwind(AssertUnwindSafe(|| run_front_end(c))).is_ok_and(|n| n > 0))
        .collect();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    while report.runs < iterations && started.elapsed() < time {
        // Three times in four, start from a config that binds, so mutations exercise the SQL
        // binder and not only the YAML parser; half the time mutate inside its SQL only.
        let base = if !binding.is_empty() && rng.index(4) > 0 {
            binding[rng.index(binding.len())]
        } else {
            &corpus[rng.index(corpus.len())]
        };
        let input = match sql_block(base) {
            Some((a, b)) if rng.index(2) == 0 => {
                // Mutate the SQL itself, then indent it again so the YAML around it stays valid.
                let sql: String = base[a..b]
                    .lines()
                    .map(|l| format!("{}\n", l.trim_start()))
                    .collect();
                let mutated = mutate(&mut rng, &sql, corpus);
                let indented: String = mutated.lines().map(|l| format!("  {l}\n")).collect();
                format!("{}{indented}{}", &base[..a], &base[b..])
            }
            _ => mutate(&mut rng, base, corpus),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| run_front_end(&input)));
        if let Ok(bound) = &outcome {
            report.reached_plans += u64::from(*bound > 0);
        }
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            report.crashes.push((input, msg));
            if report.crashes.len() >= 10 {
                break;
            }
        }
        report.runs += 1;
    }
    std::panic::set_hook(hook);
    report
}
