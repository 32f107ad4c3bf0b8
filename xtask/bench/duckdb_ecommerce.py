"""The DuckDB baseline of `cargo xtask bench`: the e-commerce example's four results computed from
the same CSV, in memory, from scratch.

Usage: duckdb_ecommerce.py <sales.csv> [<more.csv> ...]    (prints the row count of each result)
"""
import sys

import duckdb


def main():
    files = sys.argv[1:]
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE sales AS SELECT * FROM read_csv(?, header = true, timestampformat = '%Y-%m-%d %H:%M:%S')",
        [files],
    )
    queries = {
        "customer_lifetime_value": "SELECT CustomerID, SUM(Quantity * UnitPrice) AS LifetimeValue FROM sales GROUP BY CustomerID",
        "bestsellers": "SELECT StockCode, SUM(Quantity) AS BuyCount FROM sales GROUP BY StockCode",
        "sales_by_country": "SELECT Country, SUM(Quantity * UnitPrice) AS TotalSales FROM sales GROUP BY Country",
        # TUMBLE(InvoiceDate, '1 DAY'): one row per day.
        "daily_sales": "SELECT SUM(Quantity * UnitPrice) AS total_sales, date_trunc('day', InvoiceDate) AS start FROM sales GROUP BY 2",
    }
    for name, sql in queries.items():
        rows = con.execute(sql).fetchall()
        print(name, len(rows))


if __name__ == "__main__":
    main()
