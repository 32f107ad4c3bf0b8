"""Writes Delta tables with the `deltalake` package (delta-rs) for the Delta source tests.

    delta_writer.py create TABLE_URI PARTITIONED ROWS SEED
    delta_writer.py workload TABLE_URI PARTITIONED STEPS SEED
    delta_writer.py appends TABLE_URI COMMITS ROWS SEED
    delta_writer.py final TABLE_URI OUT_CSV

`create` makes the table (partitioned by `region` and `day`, or not) with its first rows and a
checkpoint every 4 commits, so readers meet checkpoints as they appear. `workload` runs random
operations as a user's jobs would — appends, DELETE, UPDATE, a rare overwrite, compaction
(OPTIMIZE), an explicit checkpoint — pausing a little between them. `appends` commits ROWS new
rows COMMITS times, at once (the measurement's stream). `final` writes the table's
rows, as delta-rs reads them, to a CSV file for PostgreSQL's COPY (the oracle).

An `s3://` URI is written through the S3 endpoint in the environment (S3_ENDPOINT, S3_REGION,
S3_KEY, S3_SECRET).
"""

import datetime
import decimal
import os
import random
import sys
import time

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

SCHEMA = pa.schema(
    [
        ("id", pa.int64(), False),
        ("customer", pa.int32()),
        ("amount", pa.decimal128(10, 2)),
        ("qty", pa.int32()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("note", pa.string()),
        ("region", pa.string()),
        ("day", pa.date32()),
    ]
)
# A value with a space is a folder `region=sa%20o`, a path `region=sa%2520o` in the log.
REGIONS = ["eu", "us", "apac", None, "sa o"]
EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def storage_options(uri):
    if not uri.startswith("s3://"):
        return None
    return {
        "AWS_ENDPOINT_URL": os.environ["S3_ENDPOINT"],
        "AWS_REGION": os.environ["S3_REGION"],
        "AWS_ACCESS_KEY_ID": os.environ["S3_KEY"],
        "AWS_SECRET_ACCESS_KEY": os.environ["S3_SECRET"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }


def rows(rng, first_id, n):
    ids = list(range(first_id, first_id + n))
    return pa.table(
        {
            "id": ids,
            "customer": [rng.randint(1, 12) for _ in ids],
            "amount": [decimal.Decimal(rng.randint(-5000, 100000)) / 100 for _ in ids],
            "qty": [rng.randint(1, 20) for _ in ids],
            "ts": [EPOCH + datetime.timedelta(seconds=rng.randint(0, 10**7)) for _ in ids],
            "note": [None if rng.random() < 0.25 else f"note {rng.randint(0, 30)}" for _ in ids],
            "region": [rng.choice(REGIONS) for _ in ids],
            "day": [datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randint(0, 3)) for _ in ids],
        },
        schema=SCHEMA,
    )


def next_id(table):
    ids = table.to_pyarrow_table(columns=["id"]).column("id").to_pylist()
    return max(ids, default=0) + 1


def create(uri, partitioned, n, seed):
    rng = random.Random(seed)
    write_deltalake(
        uri,
        rows(rng, 1, n),
        partition_by=["region", "day"] if partitioned else None,
        configuration={"delta.checkpointInterval": "4"},
        storage_options=storage_options(uri),
    )


def workload(uri, partitioned, steps, seed):
    rng = random.Random(seed)
    opts = storage_options(uri)
    for step in range(steps):
        table = DeltaTable(uri, storage_options=opts)
        op = rng.choices(
            ["append", "delete", "update", "overwrite", "compact", "checkpoint"],
            weights=[8, 3, 3, 1 if step > steps // 2 else 0, 2, 1],
        )[0]
        if op == "append":
            write_deltalake(table, rows(rng, next_id(table), rng.randint(1, 120)), mode="append")
        elif op == "delete":
            table.delete(f"customer = {rng.randint(1, 12)} AND qty > {rng.randint(5, 20)}")
        elif op == "update":
            table.update(
                updates={"qty": "qty + 1", "note": "'updated'"},
                predicate=f"customer = {rng.randint(1, 12)}",
            )
        elif op == "overwrite":
            write_deltalake(table, rows(rng, next_id(table), rng.randint(50, 150)), mode="overwrite")
        elif op == "compact":
            table.optimize.compact()
        else:
            table.create_checkpoint()
        print(step, op, table.version(), flush=True)
        time.sleep(rng.random() * 0.15)


def appends(uri, commits, n, seed):
    rng = random.Random(seed)
    table = DeltaTable(uri, storage_options=storage_options(uri))
    first = next_id(table)
    for i in range(commits):
        write_deltalake(table, rows(rng, first + i * n, n), mode="append")


def final(uri, out):
    table = DeltaTable(uri, storage_options=storage_options(uri))
    frame = table.to_pandas()[[f.name for f in SCHEMA]]
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.to_csv(out, index=False)


if __name__ == "__main__":
    command, uri = sys.argv[1], sys.argv[2]
    if command == "create":
        create(uri, sys.argv[3] == "yes", int(sys.argv[4]), int(sys.argv[5]))
    elif command == "workload":
        workload(uri, sys.argv[3] == "yes", int(sys.argv[4]), int(sys.argv[5]))
    elif command == "appends":
        appends(uri, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif command == "final":
        final(uri, sys.argv[3])
    else:
        sys.exit(f"unknown command {command}")
    # Done: leave without the interpreter's teardown, where delta-rs's runtime threads
    # sometimes abort the process ("terminate called without an active exception") after
    # everything was written.
    sys.stdout.flush()
    os._exit(0)
