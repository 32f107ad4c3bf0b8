//! Schemas of `!LocalStorage` and `!S3Storage` tables: every file with the table's extension in
//! its folder (a local directory, or a prefix of a bucket), read through `dozer_folder`. (A Delta
//! table's schema is its log's: [`super::delta`].)
//!
//! Parquet carries its schema. CSV and JSON lines are inferred from a sample (the first
//! [`SAMPLE_ROWS`] rows, across files in name order): each column gets the narrowest type that reads
//! every sampled value — integers, decimals (a number with a point: exact, as money should be),
//! floats (exponent, `inf`, `nan`), booleans, dates, timestamps, else text — and is nullable when an
//! empty value (CSV) or a null/missing key (JSON) was seen. Numbers with leading zeros stay text, so
//! codes like `02134` keep their zeros. `columns:` in the YAML overrides any inferred column.

use std::path::{Path, PathBuf};

use dozer_folder::{Folder, FolderFile};

use dozer_types::parse::{classify, parse_date, parse_timestamp};
use dozer_types::text::{bom_len, CsvRecord, CsvScanner, LineScanner, Scan};

use super::read::{self, SourceRead};
use super::schema::{Column, TableSchema};
use crate::config::{Config, FileFormat, FileStorage, FileTable, OnBadRecord, Source};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::types::SqlType;

pub const SAMPLE_ROWS: usize = 10_000;

pub fn infer(
    config: &Config,
    storage: &FileStorage,
    source: &Source,
    diags: &mut Diagnostics,
) -> Option<TableSchema> {
    let table = storage.table(&source.table_name.value)?;
    let reading = match read::reading(config, source)? {
        SourceRead::Files(reading) => reading,
        SourceRead::Delta(folder) => {
            return super::delta::infer(config, table, source, &folder, diags)
        }
        SourceRead::Postgres(_) | SourceRead::MySql(_) | SourceRead::Grpc(_) => return None,
    };
    let folder = reading.folder.open(config);
    let dir = folder.describe();
    // Records the app would skip do not stop the sampling either.
    let skip_bad = config.app.on_bad_record == OnBadRecord::Skip;
    let files = match list_files(&folder, &table.extension, table.marker_extension.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            let d = match &folder {
                Folder::Local(_) => Diagnostic::error("catalog::unreadable-folder", format!("cannot read folder `{dir}`: {}", e.message))
                    .help("create it, or fix `details.path` / the table's `path` (relative paths start at the config file's folder)"),
                Folder::S3(_) => Diagnostic::error("catalog::unreadable-folder", format!("cannot list `{dir}`: {}", e.message))
                    .help("dozerc lists the table's objects to read its schema, with the connection's credentials (else the AWS_* environment variables)"),
            };
            diags.push(d.label(table.path.span, "this folder"));
            return None;
        }
    };
    let result = match table.format {
        FileFormat::Csv => infer_csv(&files, table, skip_bad),
        FileFormat::JsonLines => infer_jsonl(&files, skip_bad),
        FileFormat::Parquet => infer_parquet(&files),
        FileFormat::Delta => unreachable!("a Delta table's reading is `SourceRead::Delta` (above)"),
    };
    let mut schema = match result {
        Ok(Some(s)) => s,
        Ok(None) => {
            // No files yet: the overrides, if any, are the whole schema.
            if table.column_types.is_empty() || table.format == FileFormat::Parquet {
                diags.push(
                    Diagnostic::error(
                        "catalog::no-files",
                        match &table.marker_extension {
                            None => format!("no `*{}` files in `{}` to read the schema of table `{}` from", table.extension, dir, table.name.value),
                            Some(m) => format!("no `*{}` files with a `*{m}` marker in `{}` to read the schema of table `{}` from", table.extension, dir, table.name.value),
                        },
                    )
                    .label(table.path.span, "empty folder")
                    .help("add a data file, or declare every column under `columns:` in the table's config"),
                );
                return None;
            }
            TableSchema::default()
        }
        Err(f) => {
            let mut d = Diagnostic::error("catalog::file-schema", f.message)
                .label(table.path.span, "reading this table");
            if let Some(h) = f.help {
                d = d.help(h);
            }
            diags.push(d);
            return None;
        }
    };
    apply_overrides(&mut schema, table, diags);
    Some(schema)
}

struct Failure {
    message: String,
    help: Option<String>,
}

impl Failure {
    fn new(m: impl Into<String>) -> Self {
        Failure {
            message: m.into(),
            help: None,
        }
    }

    fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }
}

/// A data file to sample.
struct SampleFile {
    folder: Folder,
    name: String,
    size: u64,
    /// Where it is, for messages (a path, or an `s3://` URL).
    location: PathBuf,
}

/// The table's data files, in name order; with a marker extension only the finished ones (whose
/// marker exists), as the app reads them.
fn list_files(
    folder: &Folder,
    extension: &str,
    marker: Option<&str>,
) -> Result<Vec<SampleFile>, dozer_folder::FolderError> {
    let listed = folder.list()?;
    let names: Vec<String> = listed.iter().map(|o| o.name.clone()).collect();
    let data: std::collections::HashSet<&str> =
        dozer_types::marker::table_files(&names, extension, marker)
            .into_iter()
            .collect();
    let mut files: Vec<SampleFile> = listed
        .iter()
        .filter(|o| data.contains(o.name.as_str()))
        .map(|o| SampleFile {
            folder: folder.clone(),
            name: o.name.clone(),
            size: o.size,
            location: folder.location(&o.name),
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn apply_overrides(schema: &mut TableSchema, table: &FileTable, diags: &mut Diagnostics) {
    let inferred_any = !schema.columns.is_empty();
    for o in &table.column_types {
        match schema.columns.iter_mut().find(|c| c.name == o.name.value) {
            Some(c) => {
                c.ty = o.ty.value;
                if let Some(n) = o.nullable {
                    c.nullable = n;
                }
            }
            None if inferred_any => diags.push(super::schema::unknown_column(
                &table.name.value,
                &o.name.value,
                o.name.span,
                schema,
            )),
            None => schema.columns.push(Column {
                name: o.name.value.clone(),
                ty: o.ty.value,
                nullable: o.nullable.unwrap_or(true),
            }),
        }
    }
}

/// What the values of one column seen so far allow.
#[derive(Clone, Copy, Debug, Default)]
struct Inferred {
    ty: Option<SqlType>,
    nullable: bool,
}

impl Inferred {
    fn observe(&mut self, t: SqlType) {
        self.ty = Some(match self.ty {
            None => t,
            Some(prev) => SqlType::common_supertype(prev, t).unwrap_or(SqlType::String),
        });
    }

    fn column(self, name: String) -> Column {
        // A column with only empty values: text, and nullable.
        Column {
            name,
            ty: self.ty.unwrap_or(SqlType::String),
            nullable: self.nullable || self.ty.is_none(),
        }
    }
}

fn inferred_schema(names: Vec<String>, cols: Vec<Inferred>) -> TableSchema {
    TableSchema {
        columns: names
            .into_iter()
            .zip(cols)
            .map(|(n, c)| c.column(n))
            .collect(),
        primary_key: vec![],
        row_image: vec![],
    }
}

/// Feeds a file to `scan` in pieces that start at record boundaries (after a byte order mark):
/// `scan(bytes, last, line)` consumes whole records from the start of `bytes` — `last` when the
/// file ends with them, `line` the line number they start on — and returns the bytes it consumed,
/// the line after them, and whether it has seen enough.
fn scan_file(
    sample: &SampleFile,
    mut scan: impl FnMut(&[u8], bool, u64) -> Result<(usize, u64, bool), Failure>,
) -> Result<(), Failure> {
    use std::io::Read;
    const PIECE: u64 = 1 << 20;
    let path = &sample.location;
    let unreadable =
        |e: std::io::Error| Failure::new(format!("cannot read `{}`: {e}", path.display()));
    let mut file = sample.folder.reader(&sample.name, 0..sample.size);
    let mut buf = Vec::new();
    let mut line = 1;
    let mut first = true;
    loop {
        let n = (&mut file)
            .take(PIECE)
            .read_to_end(&mut buf)
            .map_err(unreadable)?;
        let last = (n as u64) < PIECE;
        let start = if first { bom_len(&buf) } else { 0 };
        first = false;
        let (consumed, after, enough) = scan(&buf[start..], last, line)?;
        if enough || last {
            return Ok(());
        }
        line = after;
        buf.drain(..start + consumed);
    }
}

fn infer_csv(
    files: &[SampleFile],
    table: &FileTable,
    skip_bad: bool,
) -> Result<Option<TableSchema>, Failure> {
    let mut header: Option<(Vec<String>, &Path)> = None;
    let mut cols: Vec<Inferred> = vec![];
    let mut sampled = 0;
    for sample in files {
        let file = sample.location.as_path();
        // Every file's first record is its header (or, without one, gives its width); records are
        // sampled from the first files on.
        let mut header_seen = false;
        scan_file(sample, |bytes, last, line| {
            let mut scanner = CsvScanner::new(bytes, last, line, table.delimiter);
            while let Scan::Record(record) = scanner.next_record() {
                if !header_seen {
                    header_seen = true;
                    let names = file_columns(&record, table.has_header);
                    match &header {
                        None => {
                            check_header(&names, file)?;
                            cols = vec![Inferred::default(); names.len()];
                            header = Some((names, file));
                        }
                        Some((first, first_file)) if *first != names => {
                            return Err(Failure::new(format!(
                                "`{}` has columns ({}) but `{}` has ({})",
                                file.display(),
                                names.join(", "),
                                first_file.display(),
                                first.join(", ")
                            ))
                            .help("all files of one table must have the same header"))
                        }
                        Some(_) => {}
                    }
                    if table.has_header {
                        continue;
                    }
                }
                if sampled >= SAMPLE_ROWS {
                    return Ok((0, line, true));
                }
                let names = header.as_ref().map_or(&[][..], |(n, _)| n.as_slice());
                let Some(fields) = record_text(&record, file, names, skip_bad)? else {
                    continue;
                };
                for (col, field) in cols.iter_mut().zip(fields) {
                    if field.is_empty() {
                        col.nullable = true;
                    } else {
                        col.observe(classify(field));
                    }
                }
                sampled += 1;
            }
            let (consumed, after) = scanner.consumed();
            Ok((consumed, after, header_seen && sampled >= SAMPLE_ROWS))
        })?;
    }
    Ok(header.map(|(names, _)| inferred_schema(names, cols)))
}

/// The columns a CSV file's first record names: its header's names, or `column_<n>` for each
/// field of a file without a header.
fn file_columns(first: &CsvRecord<'_>, has_header: bool) -> Vec<String> {
    if has_header {
        first.header_names()
    } else {
        (1..=first.len()).map(|i| format!("column_{i}")).collect()
    }
}

/// A data record's fields as text, one per column of `names`; `None` when the record is
/// unreadable and `skip_bad` (the app would skip it too), an error naming where otherwise.
fn record_text<'r>(
    record: &CsvRecord<'r>,
    file: &Path,
    names: &[String],
    skip_bad: bool,
) -> Result<Option<Vec<&'r str>>, Failure> {
    if record.len() != names.len() {
        if skip_bad {
            return Ok(None);
        }
        return Err(Failure::new(format!(
            "`{}` line {}: {} fields, the header has {}",
            file.display(),
            record.line,
            record.len(),
            names.len()
        ))
        .help("fix the file (every row needs as many fields as the header), or set `app.on_bad_record: skip`"));
    }
    let mut fields = Vec::with_capacity(record.len());
    for (field, name) in record.iter().zip(names) {
        match std::str::from_utf8(field) {
            Ok(text) => fields.push(text),
            Err(_) if skip_bad => return Ok(None),
            Err(e) => {
                let column = format!("{} (`{name}`)", fields.len() + 1);
                let detail = format!(" (byte {} of the field)", e.valid_up_to() + 1);
                return Err(not_utf8(file, record.line, &column, &detail));
            }
        }
    }
    Ok(Some(fields))
}

/// Text that is not UTF-8 at `file` line `line`, column `column` (`detail`: where in it).
fn not_utf8(file: &Path, line: u64, column: &str, detail: &str) -> Failure {
    Failure::new(format!(
        "`{}` line {line}, column {column}: not valid UTF-8{detail}",
        file.display()
    ))
    .help("save the file as UTF-8, or set `app.on_bad_record: skip` to skip such records")
}

fn check_header(names: &[String], file: &Path) -> Result<(), Failure> {
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(Failure::new(format!(
                "column {} of `{}` has an empty name",
                i + 1,
                file.display()
            ))
            .help("name every column in the header line"));
        }
        if names[..i].contains(n) {
            return Err(Failure::new(format!(
                "column `{n}` appears twice in the header of `{}`",
                file.display()
            ))
            .help("column names must be unique"));
        }
    }
    Ok(())
}

fn infer_jsonl(files: &[SampleFile], skip_bad: bool) -> Result<Option<TableSchema>, Failure> {
    let mut names: Vec<String> = vec![];
    let mut cols: Vec<Inferred> = vec![];
    let mut sampled = 0;
    let mut any_file = false;
    for sample in files {
        let file = sample.location.as_path();
        any_file = true;
        scan_file(sample, |bytes, last, line| {
            let mut scanner = LineScanner::new(bytes, last, line);
            while let Scan::Record(l) = scanner.next_line() {
                if sampled >= SAMPLE_ROWS {
                    return Ok((0, line, true));
                }
                if l.text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let text = match std::str::from_utf8(l.text) {
                    Ok(t) => t,
                    Err(_) if skip_bad => continue,
                    Err(e) => {
                        let column = (e.valid_up_to() + 1).to_string();
                        return Err(not_utf8(file, l.line, &column, ""));
                    }
                };
                let value: serde_json::Value = match serde_json::from_str(text) {
                    Ok(v) => v,
                    Err(_) if skip_bad => continue,
                    Err(e) => {
                        return Err(Failure::new(format!(
                            "`{}` line {}, column {}: invalid JSON: {e}",
                            file.display(),
                            l.line,
                            e.column()
                        ))
                        .help("each line of a JSON-lines file is one JSON object (or set `app.on_bad_record: skip`)"))
                    }
                };
                let serde_json::Value::Object(obj) = value else {
                    if skip_bad {
                        continue;
                    }
                    return Err(Failure::new(format!(
                        "`{}` line {}: expected a JSON object",
                        file.display(),
                        l.line
                    )));
                };
                for (k, v) in &obj {
                    let i = match names.iter().position(|n| n == k) {
                        Some(i) => i,
                        None => {
                            names.push(k.clone());
                            // A key first seen after the first row was missing (null) before it.
                            cols.push(Inferred {
                                ty: None,
                                nullable: sampled > 0,
                            });
                            names.len() - 1
                        }
                    };
                    match json_type(v) {
                        None => cols[i].nullable = true,
                        Some(t) => {
                            let col = &mut cols[i];
                            col.ty = Some(match col.ty {
                                None => t,
                                Some(p) => SqlType::common_supertype(p, t).unwrap_or(SqlType::Json),
                            });
                        }
                    }
                }
                for (i, n) in names.iter().enumerate() {
                    if !obj.contains_key(n) {
                        cols[i].nullable = true;
                    }
                }
                sampled += 1;
            }
            let (consumed, after) = scanner.consumed();
            Ok((consumed, after, false))
        })?;
    }
    if !any_file || names.is_empty() {
        return Ok(None);
    }
    Ok(Some(inferred_schema(names, cols)))
}

fn json_type(v: &serde_json::Value) -> Option<SqlType> {
    use serde_json::Value;
    Some(match v {
        Value::Null => return None,
        Value::Bool(_) => SqlType::Boolean,
        Value::Number(n) if n.is_i64() => SqlType::Int,
        Value::Number(n) if n.is_u64() => SqlType::UInt,
        Value::Number(_) => SqlType::Float,
        Value::String(s) if parse_date(s).is_some() => SqlType::Date,
        Value::String(s) if parse_timestamp(s).is_some() => SqlType::Timestamp,
        Value::String(_) => SqlType::String,
        Value::Array(_) | Value::Object(_) => SqlType::Json,
    })
}

fn infer_parquet(files: &[SampleFile]) -> Result<Option<TableSchema>, Failure> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let Some(sample) = files.first() else {
        return Ok(None);
    };
    let file = sample.location.as_path();
    let f = FolderFile::open(&sample.folder, &sample.name, sample.size)
        .map_err(|e| Failure::new(format!("cannot read `{}`: {}", file.display(), e.message)))?;
    let reader = SerializedFileReader::new(f).map_err(|e| {
        Failure::new(format!(
            "`{}` is not a readable Parquet file: {e}",
            file.display()
        ))
    })?;
    let schema = reader.metadata().file_metadata().schema();
    let mut columns = vec![];
    for field in schema.get_fields() {
        columns.push(
            parquet_column(field)
                .map_err(|m| Failure::new(format!("`{}`: {m}", file.display())))?,
        );
    }
    Ok(Some(TableSchema {
        columns,
        primary_key: vec![],
        row_image: vec![],
    }))
}

fn parquet_column(field: &parquet::schema::types::Type) -> Result<Column, String> {
    use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as Physical};
    let info = field.get_basic_info();
    let name = info.name().to_string();
    if field.is_group() {
        return Err(format!(
            "not supported yet: nested column `{name}` (Parquet group)"
        ));
    }
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return Err(format!("not supported yet: repeated column `{name}`"));
    }
    let nullable = !info.has_repetition() || info.repetition() == Repetition::OPTIONAL;
    let logical = info.logical_type_ref().cloned();
    let converted = info.converted_type();
    let ty = match (field.get_physical_type(), logical, converted) {
        (_, Some(LogicalType::Decimal(_)), _) | (_, _, ConvertedType::DECIMAL) => SqlType::Decimal,
        (_, Some(LogicalType::Date), _) | (_, _, ConvertedType::DATE) => SqlType::Date,
        (_, Some(LogicalType::Timestamp(_)), _)
        | (_, _, ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS)
        | (Physical::INT96, _, _) => SqlType::Timestamp,
        (_, Some(LogicalType::Json), _) | (_, _, ConvertedType::JSON) => SqlType::Json,
        (_, Some(LogicalType::String | LogicalType::Enum | LogicalType::Uuid), _)
        | (_, _, ConvertedType::UTF8 | ConvertedType::ENUM) => SqlType::String,
        (_, Some(LogicalType::Integer(i)), _) if i.bit_width == 64 && !i.is_signed => SqlType::UInt,
        (_, _, ConvertedType::UINT_64) => SqlType::UInt,
        (_, Some(LogicalType::Time(_)), _)
        | (_, _, ConvertedType::TIME_MILLIS | ConvertedType::TIME_MICROS) => {
            return Err(format!("not supported yet: type TIME of column `{name}`"))
        }
        (Physical::BOOLEAN, _, _) => SqlType::Boolean,
        (Physical::INT32 | Physical::INT64, _, _) => SqlType::Int,
        (Physical::FLOAT | Physical::DOUBLE, _, _) => SqlType::Float,
        (Physical::BYTE_ARRAY | Physical::FIXED_LEN_BYTE_ARRAY, _, _) => SqlType::Binary,
    };
    Ok(Column { name, ty, nullable })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_while_sampling() {
        let mut c = Inferred::default();
        c.observe(SqlType::Int);
        c.observe(SqlType::Decimal);
        assert_eq!(c.ty, Some(SqlType::Decimal));
        c.observe(SqlType::Date);
        assert_eq!(c.ty, Some(SqlType::String));
    }
}
