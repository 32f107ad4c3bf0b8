//! Schemas of file sources: CSV and JSON-lines inference (with YAML overrides), Parquet footers,
//! and the errors for missing folders and inconsistent files.

use std::path::Path;
use std::sync::Arc;

use dozerc::catalog::LockMode;
use dozerc::check::{check_paths, CheckOptions, Checked};
use dozerc::diagnostic::{render, Diagnostics, RenderOptions, SourceMap};
use dozerc::types::SqlType;

fn check(path: &Path) -> (Checked, String, bool) {
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::default();
    let checked = check_paths(
        &[path.to_path_buf()],
        CheckOptions {
            lock_mode: LockMode::Refresh,
        },
        &mut map,
        &mut diags,
    );
    let text: String = diags
        .sorted()
        .into_iter()
        .map(|d| render(d, &map, RenderOptions::default()))
        .collect();
    (checked, text, diags.has_errors())
}

fn config(dir: &Path, tables: &str, sources: &str) -> std::path::PathBuf {
    let yaml = format!(
        "version: 1\napp_name: files\nconnections:\n  - name: fs\n    config: !LocalStorage\n      details:\n        path: ./data\n      tables:\n{tables}sources:\n{sources}"
    );
    let p = dir.join("dozer-config.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

fn types(checked: &Checked, source: &str) -> Vec<(String, SqlType, bool)> {
    checked.catalog.sources[source]
        .schema
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty, c.nullable))
        .collect()
}

#[test]
fn csv_and_jsonl_are_inferred_and_overridable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/events")).unwrap();
    std::fs::create_dir_all(dir.path().join("data/logs")).unwrap();
    std::fs::write(
        dir.path().join("data/events/a.csv"),
        "id,zip,price,ratio,ok,day,at,note\n1,02134,2.50,1e3,true,2020-01-02,2020-01-02 10:00:00,x\n2,10001,3,2.5,false,2020-01-03,2020-01-03T11:00:00Z,\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("data/events/b.csv"),
        "id,zip,price,ratio,ok,day,at,note\n3,99999,4.25,0.5,true,2020-01-04,2020-01-04 12:00,y\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("data/events/ignored.txt"), "not,a,csv\n").unwrap();
    std::fs::write(
        dir.path().join("data/logs/x.jsonl"),
        "{\"id\": 1, \"msg\": \"hi\", \"at\": \"2020-01-01T00:00:00Z\", \"tags\": [1]}\n{\"id\": 2, \"msg\": null, \"level\": 3.5}\n",
    )
    .unwrap();
    let tables = "        - !Table\n          name: events\n          config: !CSV\n            path: events\n            extension: .csv\n            columns:\n              id: { type: int, nullable: false }\n              note: text\n        - !Table\n          name: logs\n          config: !JSONL\n            path: logs\n";
    let sources = "  - name: events\n    table_name: events\n    connection: fs\n  - name: logs\n    table_name: logs\n    connection: fs\n";
    let (checked, text, failed) = check(&config(dir.path(), tables, sources));
    assert!(!failed, "{text}");
    let s = |n: &str, t, null| (n.to_string(), t, null);
    assert_eq!(
        types(&checked, "events"),
        vec![
            s("id", SqlType::Int, false),
            s("zip", SqlType::String, false),
            s("price", SqlType::Decimal, false),
            s("ratio", SqlType::Float, false),
            s("ok", SqlType::Boolean, false),
            s("day", SqlType::Date, false),
            s("at", SqlType::Timestamp, false),
            s("note", SqlType::Text, true),
        ]
    );
    assert_eq!(
        types(&checked, "logs"),
        vec![
            s("id", SqlType::Int, false),
            s("msg", SqlType::String, true),
            s("at", SqlType::Timestamp, true),
            s("tags", SqlType::Json, true),
            s("level", SqlType::Float, true),
        ]
    );
    assert!(dir.path().join("dozer.lock").exists());
}

#[test]
fn file_errors_name_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/a")).unwrap();
    std::fs::write(dir.path().join("data/a/1.csv"), "x,y\n1,2\n").unwrap();
    std::fs::write(dir.path().join("data/a/2.csv"), "x,z\n1,2\n").unwrap();
    let tables = "        - !Table\n          name: a\n          config: !CSV\n            path: a\n        - !Table\n          name: missing\n          config: !CSV\n            path: nowhere\n";
    let sources = "  - name: a\n    table_name: a\n    connection: fs\n  - name: m\n    table_name: missing\n    connection: fs\n";
    let (_, text, failed) = check(&config(dir.path(), tables, sources));
    assert!(failed);
    assert!(
        text.contains("2.csv` has columns (x, z)") && text.contains("same header"),
        "{text}"
    );
    assert!(
        text.contains("cannot read folder") && text.contains("nowhere"),
        "{text}"
    );
}

#[test]
fn parquet_schema_comes_from_the_footer() {
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/trips")).unwrap();
    let schema = Arc::new(
        parse_message_type(
            "message trip {
                REQUIRED INT64 id;
                OPTIONAL BYTE_ARRAY zone (UTF8);
                OPTIONAL DOUBLE fare;
                REQUIRED INT64 pickup (TIMESTAMP(MICROS,true));
                OPTIONAL INT32 day (DATE);
                OPTIONAL FIXED_LEN_BYTE_ARRAY (16) amount (DECIMAL(20,2));
                REQUIRED BOOLEAN paid;
            }",
        )
        .unwrap(),
    );
    let file = std::fs::File::create(dir.path().join("data/trips/part-0.parquet")).unwrap();
    let writer =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .unwrap();
    writer.close().unwrap();
    let tables = "        - !Table\n          name: trips\n          config: !Parquet\n            path: trips\n            extension: .parquet\n";
    let sources = "  - name: trips\n    table_name: trips\n    connection: fs\n";
    let (checked, text, failed) = check(&config(dir.path(), tables, sources));
    assert!(!failed, "{text}");
    let s = |n: &str, t, null| (n.to_string(), t, null);
    assert_eq!(
        types(&checked, "trips"),
        vec![
            s("id", SqlType::Int, false),
            s("zone", SqlType::String, true),
            s("fare", SqlType::Float, true),
            s("pickup", SqlType::Timestamp, false),
            s("day", SqlType::Date, true),
            s("amount", SqlType::Decimal, true),
            s("paid", SqlType::Boolean, false),
        ]
    );
}

/// Files as Excel, Windows tools and old Macs write them sample the same as plain ones: `\r\n`
/// and `\r` line breaks, a UTF-8 byte order mark before the header, blank lines, an empty file
/// and a last line without its line break.
#[test]
fn line_breaks_and_byte_order_marks_of_real_writers_are_sampled_alike() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/sales")).unwrap();
    std::fs::create_dir_all(dir.path().join("data/logs")).unwrap();
    let sales = dir.path().join("data/sales");
    std::fs::write(sales.join("0.csv"), "").unwrap();
    std::fs::write(
        sales.join("1.csv"),
        "\u{feff}id,price,note\r\n1,2.50,\"a\r\nb\"\r\n\r\n2,3.25,x\r\n",
    )
    .unwrap();
    std::fs::write(sales.join("2.csv"), "id,price,note\r3,1.5,\r4,2,y").unwrap();
    let logs = dir.path().join("data/logs");
    std::fs::write(
        logs.join("1.jsonl"),
        "\u{feff}{\"n\": 1, \"at\": \"2020-01-02\"}\r\n\r\n{\"n\": 2, \"at\": null}\r{\"n\": 3}",
    )
    .unwrap();
    let path = config(
        dir.path(),
        "        - !Table\n          name: sales\n          config: !CSV { path: sales }\n        - !Table\n          name: logs\n          config: !JSONL { path: logs, quiet_period: 500 MILLISECONDS }\n",
        "  - { name: sales, table_name: sales, connection: fs }\n  - { name: logs, table_name: logs, connection: fs }\n",
    );
    let (checked, text, errors) = check(&path);
    assert!(!errors, "{text}");
    assert_eq!(
        types(&checked, "sales"),
        [
            ("id".to_string(), SqlType::Int, false),
            ("price".to_string(), SqlType::Decimal, false),
            ("note".to_string(), SqlType::String, true),
        ]
    );
    assert_eq!(
        types(&checked, "logs"),
        [
            ("n".to_string(), SqlType::Int, false),
            ("at".to_string(), SqlType::Date, true),
        ]
    );
}

#[test]
fn text_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/t")).unwrap();
    std::fs::write(
        dir.path().join("data/t/1.csv"),
        b"id,name\n1,ok\n2,caf\xE9\n",
    )
    .unwrap();
    let path = config(
        dir.path(),
        "        - !Table\n          name: t\n          config: !CSV { path: t }\n",
        "  - { name: t, table_name: t, connection: fs }\n",
    );
    let (_, text, errors) = check(&path);
    assert!(errors);
    assert!(
        text.contains("1.csv` line 3, column 2 (`name`): not valid UTF-8"),
        "{text}"
    );
}
