//! The app driver end to end, with a hand-written pipeline of exactly the shape dozerc generates for
//!
//! ```sql
//! SELECT Country, SUM(Quantity) AS n INTO by_country FROM sales GROUP BY Country;
//! ```
//!
//! Checked against a direct computation: after one run, after a crash and restart in the middle
//! (nothing counted twice or missed), and with unreadable records under both policies.

use std::collections::BTreeMap;
use std::path::Path;

use dozer_runtime::api::EndpointSchema;
use dozer_runtime::app::{FieldDef, Pipeline, PipelineError, Runner, SourceDef, SourceKind};
use dozer_runtime::codec::{Decode, DecodeError, Encode, Reader};
use dozer_runtime::ops::aggregate::{AggKind, AggRow, Aggregate};
use dozer_runtime::ops::OpError;
use dozer_runtime::source::fields::{csv_required, BadRecord, BadRecords};
use dozer_runtime::source::files::{Chunk, FileFormat, FileTable, RawRecord};
use dozer_runtime::table::{ConflictPolicy, KeyKind, RecordChange, RowKeys, Table};
use dozer_types::{keycode, SqlType, Value};
use heed::{Env, RwTxn, WithoutTls};

// ---- what dozerc generates ------------------------------------------------------------------

/// A row of source `sales`.
struct Sales {
    country: String,
    quantity: i64,
}

/// A row of `by_country`.
struct ByCountry {
    country: String,
    n: i64,
}

impl Encode for ByCountry {
    fn encode(&self, out: &mut Vec<u8>) {
        self.country.encode(out);
        self.n.encode(out);
    }
}

impl Decode for ByCountry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ByCountry {
            country: String::decode(r)?,
            n: i64::decode(r)?,
        })
    }
}

struct ByCountryKeys;

impl RowKeys for ByCountryKeys {
    fn primary_key(&self, row: &[u8]) -> Result<Vec<u8>, OpError> {
        let r = ByCountry::decode(&mut Reader::new(row))?;
        let mut key = vec![];
        keycode::encode_str(&mut key, &r.country);
        Ok(key)
    }

    fn index_keys(&self, _row: &[u8], _out: &mut Vec<(usize, Vec<u8>)>) -> Result<(), OpError> {
        Ok(())
    }
}

struct Generated {
    sources: Vec<SourceDef>,
    endpoints: Vec<EndpointSchema>,
    agg: Aggregate,
    by_country: Table,
}

const SALES_COLUMNS: [&str; 2] = ["Country", "Quantity"];

fn parse_sales(file: &str, line: u64, record: &RawRecord) -> Result<Sales, BadRecord> {
    let RawRecord::Csv(fields) = record else {
        unreachable!("sales is a CSV table")
    };
    let bad = |column: usize, message: String| BadRecord {
        file: file.to_string(),
        line,
        column: Some(column + 1),
        column_name: Some(SALES_COLUMNS[column].to_string()),
        message,
    };
    if fields.len() != SALES_COLUMNS.len() {
        return Err(BadRecord {
            file: file.to_string(),
            line,
            column: None,
            column_name: None,
            message: format!(
                "{} fields, the table has {}",
                fields.len(),
                SALES_COLUMNS.len()
            ),
        });
    }
    Ok(Sales {
        country: csv_required(&fields[0]).map_err(|e| bad(0, e.message))?,
        quantity: csv_required(&fields[1]).map_err(|e| bad(1, e.message))?,
    })
}

fn open_generated(
    dir: &Path,
) -> impl Fn(&Env<WithoutTls>, &mut RwTxn) -> Result<Box<dyn Pipeline>, OpError> + '_ {
    move |env, txn| {
        Ok(Box::new(Generated {
            sources: vec![SourceDef {
                name: "sales".into(),
                kind: SourceKind::Files(FileTable {
                    dir: dir.to_path_buf(),
                    extension: ".csv".into(),
                    format: FileFormat::Csv {
                        delimiter: b',',
                        has_header: true,
                    },
                    columns: SALES_COLUMNS.iter().map(|c| c.to_string()).collect(),
                    quiet_period: dozer_runtime::source::files::DEFAULT_QUIET_PERIOD,
                }),
            }],
            endpoints: vec![EndpointSchema {
                name: "by_country".into(),
                path: "/by_country".into(),
                fields: vec![
                    FieldDef {
                        name: "Country".into(),
                        ty: SqlType::String,
                        nullable: false,
                    },
                    FieldDef {
                        name: "n".into(),
                        ty: SqlType::Int,
                        nullable: false,
                    },
                ],
                primary_key: Some(vec![0]),
                indexes: vec![],
            }],
            agg: Aggregate::open(env, txn, "q0.aggregate", vec![AggKind::SumInt], false)?,
            by_country: Table::open(
                env,
                txn,
                "by_country",
                KeyKind::Primary,
                ConflictPolicy::STRICT,
                0,
            )?,
        }))
    }
}

impl Pipeline for Generated {
    fn sources(&self) -> &[SourceDef] {
        &self.sources
    }

    fn endpoints(&self) -> &[EndpointSchema] {
        &self.endpoints
    }

    fn table(&self, _endpoint: usize) -> &Table {
        &self.by_country
    }

    fn apply(
        &self,
        txn: &mut RwTxn,
        _source: usize,
        chunk: &Chunk,
        bad: &mut BadRecords,
        changes: &mut Vec<(usize, RecordChange)>,
    ) -> Result<(), PipelineError> {
        let mut rows = Vec::with_capacity(chunk.records.len());
        for (line, record) in &chunk.records {
            let sales = match parse_sales(&chunk.file, *line, record) {
                Ok(s) => s,
                Err(e) => {
                    bad.handle(e)?;
                    continue;
                }
            };
            let mut key = vec![];
            keycode::encode_str(&mut key, &sales.country);
            let mut group = vec![];
            sales.country.encode(&mut group);
            rows.push(AggRow {
                key,
                group,
                args: vec![Value::Int(sales.quantity)],
                weight: 1,
            });
        }
        let mut out = vec![];
        for change in self.agg.apply(txn, rows)? {
            let country = String::decode(&mut Reader::new(&change.group))?;
            for (values, weight) in [(change.old, -1), (change.new, 1)] {
                if let Some(values) = values {
                    let Value::Int(n) = values[0] else {
                        unreachable!("SUM of int is int")
                    };
                    let mut row = vec![];
                    ByCountry {
                        country: country.clone(),
                        n,
                    }
                    .encode(&mut row);
                    out.push((row, weight));
                }
            }
        }
        changes.extend(
            self.by_country
                .apply(txn, &ByCountryKeys, out)?
                .into_iter()
                .map(|c| (0, c)),
        );
        Ok(())
    }

    fn fingerprint(&self) -> &str {
        "by_country-v1"
    }

    fn decode(&self, _endpoint: usize, row: &[u8]) -> Result<Vec<Value>, DecodeError> {
        let r = ByCountry::decode(&mut Reader::new(row))?;
        Ok(vec![Value::String(r.country), Value::Int(r.n)])
    }
}

// ---- the tests -------------------------------------------------------------------------------

fn runner(home: &Path, data: &Path, skip: bool) -> Runner {
    Runner::open(home, Some(1 << 20), &open_generated(data), skip)
        .unwrap()
        .with_chunk_records(7)
}

fn dump(r: &Runner) -> BTreeMap<String, i64> {
    let mut out = vec![];
    r.dump("by_country", &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["__dozer_record_id"].as_u64().unwrap() > 0);
            (
                v["Country"].as_str().unwrap().to_string(),
                v["n"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Writes `rows` sales rows as files of 25 rows, and returns the expected result.
fn write_sales(dir: &Path, from: usize, rows: usize) -> BTreeMap<String, i64> {
    let countries = ["France", "Germany", "EIRE", "Spain"];
    let mut expected = BTreeMap::new();
    for start in (from..from + rows).step_by(25) {
        let mut text = String::from("Country,Quantity\n");
        for i in start..(start + 25).min(from + rows) {
            let (c, q) = (countries[i * 7 % 4], (i % 13) as i64 - 3);
            text.push_str(&format!("{c},{q}\n"));
        }
        std::fs::write(dir.join(format!("part-{start:05}.csv")), text).unwrap();
    }
    for i in 0..from + rows {
        *expected
            .entry(countries[i * 7 % 4].to_string())
            .or_insert(0) += (i % 13) as i64 - 3;
    }
    expected
}

#[test]
fn results_match_a_direct_computation() {
    let (home, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let expected = write_sales(data.path(), 0, 200);
    let mut r = runner(home.path(), data.path(), false);
    let stats = r.run_until_caught_up().unwrap();
    assert_eq!(stats.records, 200);
    assert_eq!(dump(&r), expected);
}

#[test]
fn a_crash_between_chunks_loses_and_repeats_nothing() {
    let (home, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_sales(data.path(), 0, 100);
    {
        let mut r = runner(home.path(), data.path(), false);
        for _ in 0..5 {
            r.step().unwrap();
        }
        // Dropped without a clean shutdown: only committed chunks count.
    }
    let expected = write_sales(data.path(), 100, 60);
    let mut r = runner(home.path(), data.path(), false);
    let stats = r.run_until_caught_up().unwrap();
    // Five chunks were committed before the crash; a chunk never spans files (of 25 rows here), so
    // they held 7 + 7 + 7 + 4 + 7 records.
    assert_eq!(stats.records, 160 - 32);
    assert_eq!(dump(&r), expected);
}

#[test]
fn bad_records_stop_the_pipeline_or_are_counted() {
    let (home, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(
        data.path().join("a.csv"),
        "Country,Quantity\nFrance,2\nSpain,two\nEIRE,5,9\nFrance,1\n",
    )
    .unwrap();
    let mut strict = runner(home.path(), data.path(), false);
    let err = strict.run_until_caught_up().unwrap_err().to_string();
    assert!(
        err.contains("a.csv:3:2 (column `Quantity`): `two` is not a valid int"),
        "{err}"
    );
    assert!(
        dump(&strict).is_empty(),
        "the failed chunk committed nothing"
    );
    drop(strict);

    let home = tempfile::tempdir().unwrap();
    let mut lenient = runner(home.path(), data.path(), true);
    lenient.run_until_caught_up().unwrap();
    assert_eq!(dump(&lenient), BTreeMap::from([("France".to_string(), 3)]));
    assert_eq!(lenient.bad_records().skipped(), 2);
    assert!(lenient.bad_records().examples[1]
        .to_string()
        .contains("a.csv:4: 3 fields, the table has 2"));
}

// ---- the app's command line --------------------------------------------------------------------

mod cli {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use dozer_runtime::cli::{run_with, AppSpec, CliError};

    use super::*;

    fn spec<'a>(home: &Path, open: dozer_runtime::app::OpenPipeline<'a>) -> AppSpec<'a> {
        AppSpec {
            name: "shop",
            home: home.to_path_buf(),
            map_size: Some(1 << 20),
            skip_bad_records: false,
            batch_records: 10_000,
            api: Default::default(),
            open,
            typed: None,
        }
    }

    fn cli(
        spec: &AppSpec<'_>,
        args: &[&str],
        stop: &AtomicBool,
    ) -> Result<(String, String), CliError> {
        let (mut out, mut log) = (vec![], vec![]);
        let args = std::iter::once("shop").chain(args.iter().copied());
        run_with(spec, args, stop, &mut out, &mut log, false)?;
        Ok((
            String::from_utf8(out).unwrap(),
            String::from_utf8(log).unwrap(),
        ))
    }

    #[test]
    fn run_dump_and_info() {
        let (home, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let expected = write_sales(data.path(), 0, 60);
        let open = open_generated(data.path());
        let spec = spec(home.path(), &open);
        let go = AtomicBool::new(false);
        let (_, log) = cli(&spec, &["run", "--once"], &go).unwrap();
        assert!(log.contains("shop: caught up: 60 rows"), "{log}");
        let (out, _) = cli(&spec, &["dump", "by_country"], &go).unwrap();
        let dumped: BTreeMap<String, i64> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["Country"].as_str().unwrap().to_string(),
                    v["n"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(dumped, expected);
        let (out, _) = cli(&spec, &["info"], &go).unwrap();
        assert!(
            out.contains("source sales: read up to part-00050.csv line 12 (byte"),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "endpoint by_country (/by_country): {} rows\n  Country string not null\n  n int not null",
                expected.len()
            )),
            "{out}"
        );
        let err = cli(&spec, &["dump", "nope"], &go).unwrap_err().to_string();
        assert!(err.contains("no endpoint `nope`"), "{err}");
        assert!(matches!(
            cli(&spec, &["explode"], &go),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn run_follows_new_data_until_stopped() {
        let (home, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_sales(data.path(), 0, 30);
        let stop = AtomicBool::new(false);
        let log = std::thread::scope(|scope| {
            let running = scope.spawn(|| {
                let open = open_generated(data.path());
                let spec = spec(home.path(), &open);
                cli(&spec, &["run", "--poll-ms", "20"], &stop).map(|(_, log)| log)
            });
            std::thread::sleep(Duration::from_millis(300));
            write_sales(data.path(), 30, 30); // new files while running
            std::thread::sleep(Duration::from_millis(500));
            stop.store(true, Ordering::SeqCst);
            running.join().unwrap().unwrap()
        });
        assert!(
            log.contains("stopped; every committed change is kept"),
            "{log}"
        );
        let open = open_generated(data.path());
        let (out, _) = cli(
            &spec(home.path(), &open),
            &["dump", "by_country"],
            &AtomicBool::new(false),
        )
        .unwrap();
        let total: i64 = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_i64()
                    .unwrap()
            })
            .sum();
        let expected: i64 = write_sales(tempfile::tempdir().unwrap().path(), 0, 60)
            .values()
            .sum();
        assert_eq!(
            total, expected,
            "the rows written while running were ingested"
        );
    }
}
