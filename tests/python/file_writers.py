"""Files as real writers make them, and what Python reads from them: the oracle of
tests/file_conformance.rs.

    file_writers.py write OUT     write every case's files under OUT/data/<case>/, and OUT/cases.json
    file_writers.py expect OUT    read every case's files as Python's csv / json / pyarrow do:
                                  OUT/expected.json (the Rust test adds files of its own in between)
    file_writers.py compare OUT   compare OUT/dumps/<endpoint>.jsonl (the app's dumps, typed as
                                  OUT/schemas.json says) with the expectations; exit 1 on a mismatch

A case is a folder of files, read by the app as one table. `raw` CSV cases are read with every
column as a nullable string, so the app's fields must be exactly the strings Python's csv module
reads (an empty field is NULL); the others are read with the types dozerc infers, and each value
must equal what Python reads, as that type.
"""

import csv
import datetime as dt
import decimal
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys

D = decimal.Decimal
UTC = dt.timezone.utc
csv.field_size_limit(1 << 30)  # the very long line is one field


def write_bytes(out, case, name, data):
    folder = os.path.join(out, "data", case)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# Values that trip up CSV readers: separators, quotes and line breaks inside fields, empty fields,
# text that is not ASCII, leading and trailing spaces.
TRICKY = [
    ["1", "plain", "2.50"],
    ["2", "with, comma", ""],
    ["3", 'say "hi"', "-0.5"],
    ["4", "two\r\nlines", "10"],
    ["5", "lf\nonly", "0"],
    ["6", "", "1e3"],
    ["7", "  spaced  ", "3"],
    ["8", "naïve café 東京 🚀", "4.25"],
    ["9", "cr\ronly", "5"],
]


def hand_written(out, cases):
    """Line-break conventions, byte order marks, blank lines, odd files, written byte by byte."""
    rows = "1,x,\n2,,z\n\"3\",\"q,uoted\",\"a \"\"b\"\"\"\n"

    def case(name, files):
        for i, data in enumerate(files):
            write_bytes(out, name, f"{i + 1}.csv", data)
        cases.append({"name": name, "format": "csv", "raw": True, "columns": ["a", "b", "c"]})

    body = "a,b,c\n" + rows
    case("lf", [body.encode()])
    case("crlf", [body.replace("\n", "\r\n").encode()])
    case("cr", [body.replace("\n", "\r").encode()])
    case("mixed_endings", [b"a,b,c\r\n1,x,y\n2,y,z\r3,z,w\r\n4,w,v\n"])
    case("no_final_lf", [b"a,b,c\n1,x,y\n2,y,z"])
    case("no_final_crlf", [b"a,b,c\r\n1,x,y\r\n2,y,z"])
    case("no_final_cr", [b"a,b,c\r1,x,y\r2,y,z"])
    case("bom", [b"\xef\xbb\xbf" + body.encode()])
    case("bom_crlf_no_final", [b"\xef\xbb\xbfa,b,c\r\n1,x,y\r\n2,y,z"])
    case("blank_lines", [b"\n\r\na,b,c\n\n1,x,y\r\n\r\n\n2,y,z\n\n\n"])
    case(
        "quoted_breaks",
        [b'a,b,c\r\n"multi\r\nline","lf\nline","cr\rline"\r\n"","x,y","""q"""\r\n'],
    )
    case("header_only_then_data", [b"a,b,c\r\n", b"", b"a,b,c\n1,x,y\n"])
    case("header_only", [b"a,b,c"])
    case("empty_file", [b""])
    long = "x" * (3 << 20)
    short = "".join(f"{i},s{i},\n" for i in range(200))
    case("very_long_line", [f"a,b,c\n{short}1,{long},y\n{short}".encode()])


def python_csv(out, cases):
    """Python's csv module: its default dialect ends lines with \\r\\n (as Excel does)."""
    for name, kwargs, encoding in [
        ("python_csv", {}, "utf-8"),
        ("python_csv_quote_all_lf", {"quoting": csv.QUOTE_ALL, "lineterminator": "\n"}, "utf-8"),
        ("excel_bom_crlf", {"dialect": "excel"}, "utf-8-sig"),
    ]:
        buf = io.StringIO(newline="")
        w = csv.writer(buf, **kwargs)
        w.writerow(["id", "name", "amount"])
        w.writerows(TRICKY)
        write_bytes(out, name, "1.csv", buf.getvalue().encode(encoding))
        cases.append({"name": name, "format": "csv", "raw": True, "columns": ["id", "name", "amount"]})


def both(out, cases, name, files, columns):
    """A writer's files as a raw case and, in a copy, a typed one."""
    for fname, data in files:
        write_bytes(out, name, fname, data)
        write_bytes(out, name + "_typed", fname, data)
    cases.append({"name": name, "format": "csv", "raw": True, "columns": columns})
    cases.append({"name": name + "_typed", "format": "csv", "raw": False})


def pandas_csv(out, cases):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 300
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "price": np.round(rng.uniform(-100, 100, n), 2),
            "qty": pd.array([None if i % 7 == 0 else int(i % 13) for i in range(n)], dtype="Int64"),
            "ratio": [math.nan if i % 11 == 0 else i / 8 for i in range(n)],
            "name": [["a, b", 'q "x"', "line\nbreak", "", "ü"][i % 5] + str(i) for i in range(n)],
            "ok": [bool(i % 2) for i in range(n)],
            "day": pd.date_range("2024-01-01", periods=n, freq="D").date,
            "at": pd.date_range("2024-01-01 10:00", periods=n, freq="37min"),
        }
    )
    both(out, cases, "pandas", [("1.csv", df.to_csv(index=False).encode())], list(df.columns))
    data = df.to_csv(index=False, lineterminator="\r\n", encoding="utf-8-sig").encode("utf-8-sig")
    both(out, cases, "pandas_crlf_bom", [("1.csv", data)], list(df.columns))


def duckdb_csv(out, cases):
    import duckdb

    folder = os.path.join(out, "tmp")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "duck.csv")
    con = duckdb.connect()
    con.execute(
        f"""COPY (
            SELECT i AS id,
                   (i * 1.25 - 40)::DECIMAL(12, 2) AS amount,
                   CASE WHEN i % 5 = 0 THEN NULL ELSE 'item "' || i || '", ok' END AS label,
                   i % 3 = 0 AS flag,
                   TIMESTAMP '2024-03-01 00:00:00' + INTERVAL (i * 17) MINUTE AS at,
                   DATE '2024-01-01' + CAST(i AS INTEGER) AS day
            FROM range(250) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    with open(path, "rb") as f:
        data = f.read()
    both(out, cases, "duckdb", [("1.csv", data)], ["id", "amount", "label", "flag", "at", "day"])


def json_lines(out, cases):
    rows = [
        {"id": i, "name": ["a", "b\nc", "é", 'q"'][i % 4], "score": i / 4, "ok": i % 2 == 0,
         "tags": {"k": i} if i % 3 else None, "at": f"2024-01-{1 + i % 28:02d}T10:00:00Z"}
        for i in range(60)
    ]
    lines = [json.dumps(r) for r in rows]
    write_bytes(out, "json_python", "1.jsonl", ("\n".join(lines) + "\n").encode())
    cases.append({"name": "json_python", "format": "jsonl"})
    odd = "\ufeff" + "\r\n".join(lines[:20]) + "\r\n\r\n   \r\n" + "\r".join(lines[20:40])
    odd += "\n" + "\n".join(lines[40:])  # no final line break
    write_bytes(out, "json_crlf_cr_bom_blank", "1.jsonl", odd.encode())
    cases.append({"name": "json_crlf_cr_bom_blank", "format": "jsonl"})
    jq = shutil.which("jq")
    if jq is None:
        sys.exit("jq is not installed (cargo xtask test installs it: apt-get install jq)")
    source = json.dumps(rows, indent=2).encode()
    made = subprocess.run([jq, "-c", ".[]"], input=source, capture_output=True, check=True)
    write_bytes(out, "json_jq", "1.jsonl", made.stdout)
    cases.append({"name": "json_jq", "format": "jsonl"})


def parquet_files(out, cases):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 500
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("small", pa.int32()),
            pa.field("price", pa.decimal128(12, 3)),
            pa.field("ratio", pa.float64()),
            pa.field("name", pa.string(), nullable=False),
            pa.field("note", pa.string()),
            pa.field("ok", pa.bool_()),
            pa.field("at", pa.timestamp("us")),
            pa.field("at_tz", pa.timestamp("ms", tz="UTC")),
            pa.field("day", pa.date32()),
        ]
    )
    base = dt.datetime(2024, 5, 1, 12, 0, 0)
    table = pa.table(
        {
            "id": list(range(n)),
            "small": [None if i % 9 == 0 else i % 1000 for i in range(n)],
            "price": [None if i % 10 == 0 else D(i * 7 % 2000) / D(1000) for i in range(n)],
            "ratio": [None if i % 8 == 0 else i / 3 for i in range(n)],
            "name": [f"n{i}" for i in range(n)],
            "note": [None if i % 4 == 0 else "ü" * (i % 3) for i in range(n)],
            "ok": [None if i % 6 == 0 else i % 2 == 0 for i in range(n)],
            "at": [None if i % 7 == 0 else base + dt.timedelta(seconds=97 * i) for i in range(n)],
            "at_tz": [base.replace(tzinfo=UTC) + dt.timedelta(minutes=i) for i in range(n)],
            "day": [dt.date(2024, 1, 1) + dt.timedelta(days=i % 366) for i in range(n)],
        },
        schema=schema,
    )
    folder = os.path.join(out, "data", "pyarrow")
    os.makedirs(folder, exist_ok=True)
    pq.write_table(table, os.path.join(folder, "1.parquet"), row_group_size=128)
    cases.append({"name": "pyarrow", "format": "parquet"})


def taxi_trips(out, cases):
    """NYC TLC trip files as they come: every column nullable, some pickup times missing. Yellow
    taxi columns for Dozer's window-functions sample, high-volume FHV ones for its TTL sample."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(3)
    start = dt.datetime(2022, 1, 1, 0, 0, 0)
    n = 2000
    pickups = []
    t = start
    for i in range(n):
        t += dt.timedelta(seconds=rng.randrange(0, 50))
        pickups.append(None if i % 37 == 5 else t)
    yellow = pa.table(
        {
            "VendorID": pa.array([rng.choice([1, 2, None]) for _ in range(n)], pa.int64()),
            "tpep_pickup_datetime": pa.array(pickups, pa.timestamp("us")),
            "tpep_dropoff_datetime": pa.array(
                [p and p + dt.timedelta(minutes=12) for p in pickups], pa.timestamp("us")
            ),
            "passenger_count": pa.array([rng.choice([1.0, 2.0, None]) for _ in range(n)], pa.float64()),
            "trip_distance": pa.array([rng.uniform(0, 20) for _ in range(n)], pa.float64()),
            "PULocationID": pa.array([rng.randrange(1, 30) for _ in range(n)], pa.int64()),
            "DOLocationID": pa.array([rng.randrange(1, 30) for _ in range(n)], pa.int64()),
            "tip_amount": pa.array([None if i % 13 == 0 else rng.uniform(0, 9) for i in range(n)], pa.float64()),
        }
    )
    folder = os.path.join(out, "data", "yellow")
    os.makedirs(folder, exist_ok=True)
    pq.write_table(yellow, os.path.join(folder, "yellow_tripdata_2022-01.parquet"), row_group_size=700)
    fhvhv = pa.table(
        {
            "hvfhs_license_num": pa.array([rng.choice(["HV0003", "HV0005"]) for _ in range(n)], pa.string()),
            "dispatching_base_num": pa.array(["B03404"] * n, pa.string()),
            "pickup_datetime": pa.array(pickups, pa.timestamp("ns")),
            "dropoff_datetime": pa.array([p and p + dt.timedelta(minutes=9) for p in pickups], pa.timestamp("ns")),
            "PULocationID": pa.array([rng.randrange(1, 12) for _ in range(n)], pa.int32()),
            "DOLocationID": pa.array([rng.randrange(1, 12) for _ in range(n)], pa.int32()),
            "trip_miles": pa.array([rng.uniform(0, 20) for _ in range(n)], pa.float64()),
            "tips": pa.array([None if i % 5 == 0 else round(rng.uniform(0, 9), 2) for i in range(n)], pa.float64()),
        }
    )
    folder = os.path.join(out, "data", "fhvhv")
    os.makedirs(folder, exist_ok=True)
    pq.write_table(fhvhv, os.path.join(folder, "fhvhv_tripdata_2022-01.parquet"), row_group_size=900)


def write(out):
    cases = []
    hand_written(out, cases)
    python_csv(out, cases)
    pandas_csv(out, cases)
    duckdb_csv(out, cases)
    json_lines(out, cases)
    parquet_files(out, cases)
    taxi_trips(out, cases)
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


# ---- what Python reads ------------------------------------------------------------------------


def case_files(out, case, ext):
    folder = os.path.join(out, "data", case)
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(ext)]


def read_csv(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r != []]
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    return [{h: (v if v != "" else None) for h, v in zip(header, r)} for r in rows[1:]]


def read_jsonl(path):
    with open(path, encoding="utf-8-sig") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_parquet(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def expect(out):
    with open(os.path.join(out, "cases.json")) as f:
        cases = json.load(f)
    expected = {}
    for c in cases:
        read, ext = {"csv": (read_csv, ".csv"), "jsonl": (read_jsonl, ".jsonl"), "parquet": (read_parquet, ".parquet")}[c["format"]]
        rows = []
        for path in case_files(out, c["name"], ext):
            rows.extend(read(path))
        expected[c["name"]] = rows
    expected.update(samples(out))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, default=str)


def windows(t, hop, size):
    """The starts of the windows of `size` every `hop` (seconds) that hold time `t`."""
    epoch = int(t.replace(tzinfo=UTC).timestamp())
    last = epoch - epoch % hop
    starts = []
    s = last
    while s > epoch - size:
        starts.append(s)
        s -= hop
    return sorted(starts)


def ts(seconds):
    return dt.datetime.fromtimestamp(seconds, UTC).isoformat()


def samples(out):
    """Dozer's window-functions and TTL samples, computed directly from the trips."""
    yellow = read_parquet(case_files(out, "yellow", ".parquet")[0])
    fhvhv = read_parquet(case_files(out, "fhvhv", ".parquet")[0])
    result = {"tumble": [], "hop": []}
    for r in yellow:
        t = r["tpep_pickup_datetime"]
        if t is None:
            continue  # no event time, no window
        for name, hop, size in [("tumble", 300, 300), ("hop", 60, 120)]:
            for s in windows(t, hop, size):
                result[name].append({"location": r["PULocationID"], "pickup_time": t.replace(tzinfo=UTC).isoformat(), "start": ts(s), "end": ts(s + size)})
    timed = [r for r in fhvhv if r["pickup_datetime"] is not None]
    newest = max(r["pickup_datetime"] for r in timed)
    # TTL(.., '10 MINUTES'): a row is gone once its time + 10 minutes <= the newest time.
    live = [r for r in timed if r["pickup_datetime"] + dt.timedelta(minutes=10) > newest]
    for name, hop, size in [("tumble_ttl", 300, 300), ("hop_ttl", 120, 300)]:
        groups = {}
        for r in live:
            for s in windows(r["pickup_datetime"], hop, size):
                g = groups.setdefault((r["PULocationID"], s), [])
                if r["tips"] is not None:
                    g.append(r["tips"])
        result[name] = [
            {"location": loc, "total_tips": sum(tips) if tips else None, "start": ts(s), "end": ts(s + size)}
            for (loc, s), tips in groups.items()
        ]
    return result


# ---- comparison ---------------------------------------------------------------------------------


def to_utc(v):
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.replace("Z", "+00:00").replace(" ", "T", 1))
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return v.astimezone(UTC)


def canon(ty, v):
    """A value as the type says, whatever form it came in (CSV text, JSON, pyarrow, a dump)."""
    if v is None:
        return None
    if ty in ("int", "uint"):
        return int(v)
    if ty == "float":
        f = float(v)
        return "nan" if math.isnan(f) else f
    if ty == "decimal":
        d = D(str(v))
        return d.normalize() if d != 0 else D(0)
    if ty == "boolean":
        return v if isinstance(v, bool) else str(v).lower() in ("true", "t", "1", "yes", "y", "on")
    if ty == "timestamp":
        return to_utc(v).isoformat()
    if ty == "date":
        return v.isoformat() if isinstance(v, dt.date) else dt.date.fromisoformat(v).isoformat()
    if ty == "json":
        return json.dumps(v if not isinstance(v, str) else json.loads(v), sort_keys=True)
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def close(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def compare(out):
    with open(os.path.join(out, "expected.json")) as f:
        expected = json.load(f)
    with open(os.path.join(out, "schemas.json")) as f:
        schemas = json.load(f)
    failures = 0
    for name, fields in schemas.items():
        if name not in expected:
            continue
        with open(os.path.join(out, "dumps", name + ".jsonl")) as f:
            got = [json.loads(line) for line in f]

        def rows(records):
            return sorted(
                (tuple(canon(ty, r.get(col)) for col, ty in fields) for r in records),
                key=repr,
            )

        want, have = rows(expected[name]), rows(got)
        problem = None
        if len(want) != len(have):
            problem = f"{len(have)} rows, Python reads {len(want)}"
        else:
            for w, h in zip(want, have):
                if not all(close(a, b) for a, b in zip(w, h)):
                    problem = f"row {h!r}, Python reads {w!r}"
                    break
        if problem:
            failures += 1
            print(f"MISMATCH {name}: {problem}")
        else:
            print(f"ok {name}: {len(have)} rows")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    {"write": write, "expect": expect, "compare": compare}[sys.argv[1]](sys.argv[2])
