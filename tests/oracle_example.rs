//! The e-commerce example against the PostgreSQL oracle.
//!
//! Today (front end only) this checks that the schema dozerc infers for the example's CSV is one
//! PostgreSQL accepts for every row (an independent parser agreeing with our inference), and that
//! the oracle computes the example's grouped queries. The code-generation milestone compares the
//! app's endpoints with these oracle results.

use std::path::{Path, PathBuf};

use dozer_test_support::oracle::{diff_rows, load_csv, query_values};
use dozer_test_support::postgres::TestPostgres;
use dozer_types::{SqlType, Value};
use dozerc::catalog::LockMode;
use dozerc::check::{check_paths, CheckOptions};
use dozerc::diagnostic::{Diagnostics, SourceMap};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ecommerce")
}

#[test]
fn example_data_loads_under_the_inferred_schema_and_the_oracle_answers() {
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::default();
    let checked = check_paths(
        &[example().join("dozer-config.yaml")],
        CheckOptions {
            lock_mode: LockMode::Locked,
        },
        &mut map,
        &mut diags,
    );
    assert!(!diags.has_errors(), "{diags:?}");
    let schema = &checked.catalog.sources["sales_data"].schema;
    let columns: Vec<(&str, SqlType, bool)> = schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();

    let pg = TestPostgres::start().expect("test PostgreSQL");
    let mut client = pg.connect("postgres").unwrap();
    let csv = example().join("data/sales/sales.csv");
    let loaded = load_csv(&mut client, "sales_data", &columns, &csv)
        .expect("PostgreSQL reads every row under dozerc's inferred types");
    let lines = std::fs::read_to_string(&csv).unwrap().lines().count() as u64 - 1;
    assert_eq!(loaded, lines);

    // The oracle computes the example's queries; spot-check it against a direct computation.
    let bestsellers = query_values(
        &mut client,
        "SELECT \"StockCode\", SUM(\"Quantity\") FROM sales_data GROUP BY \"StockCode\"",
    )
    .unwrap();
    let mut expected: std::collections::BTreeMap<String, i64> = Default::default();
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        *expected.entry(r[1].to_string()).or_default() += r[3].parse::<i64>().unwrap();
    }
    let expected: Vec<Vec<Value>> = expected
        .into_iter()
        .map(|(k, v)| vec![Value::String(k), Value::Int(v)])
        .collect();
    assert_eq!(diff_rows(&bestsellers, &expected), None);

    // Nullable customers: the CLV group of NULL exists, as dozerc's key (CustomerID) allows.
    let clv = query_values(
        &mut client,
        "SELECT \"CustomerID\", SUM(\"Quantity\" * \"UnitPrice\") FROM sales_data GROUP BY \"CustomerID\"",
    )
    .unwrap();
    assert!(clv.iter().any(|r| r[0] == Value::Null));
}
