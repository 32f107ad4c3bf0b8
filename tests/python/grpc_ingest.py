"""Pushes rows to a dozerc app's `!Grpc` connection with pydozer 0.2.1's IngestClient, as Dozer's
ingest sample does, and keeps the model of what the table should hold.

    grpc_ingest.py refusals URL
    grpc_ingest.py workload URL SEED CHANGES OUT_CSV

`refusals` checks that bad requests are refused with the status and message that name what is
wrong, and that a stream with one bad message applies nothing; it also pushes events as rows
and as Arrow batches (`ingest_df_arrow`). `workload` first loads users
with `ingest_df` (one stream, applied whole), then sends random inserts, updates and deletes of
users one request at a time with `ingest_raw`, retrying while the app is unreachable (the test
kills it meanwhile): every change is an upsert or a keyed delete, so a request applied just
before a crash and sent again ends the same. The users the table must hold at the end go to
OUT_CSV, for PostgreSQL.
"""

import csv
import datetime
import random
import sys
import time

import grpc
import polars as pl
from pydozer.ingest import IngestClient
from pydozer.ingest_pb2 import IngestRequest
from pydozer.types_pb2 import Value

INSERT, DELETE, UPDATE = 0, 1, 2
EPOCH = datetime.datetime(2024, 1, 1, 12, 0, 0)


def user_values(row):
    """A user row (id, name, score, active, ts, team) as Dozer values; None is NULL."""
    uid, name, score, active, ts, team = row
    return [
        Value(int_value=uid),
        Value(string_value=name),
        Value() if score is None else Value(float_value=score),
        Value(bool_value=active),
        Value(string_value=ts.strftime("%Y-%m-%d %H:%M:%S")),
        Value() if team is None else Value(int_value=team),
    ]


def random_user(rng, uid):
    return (
        uid,
        f"user {rng.randint(0, 10**6)}",
        None if rng.random() < 0.2 else round(rng.uniform(-50, 500), 2),
        rng.random() < 0.7,
        EPOCH + datetime.timedelta(seconds=rng.randint(0, 10**7)),
        None if rng.random() < 0.1 else rng.randint(1, 9),
    )


def send(client, request, deadline_s=90):
    """Sends until the app answers; the answer's status code and message (OK: None)."""
    start = time.time()
    while True:
        try:
            response = client.ingest_raw(request)
            assert response.seq_no == request.seq_no, (response.seq_no, request.seq_no)
            return None
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                if time.time() - start > deadline_s:
                    raise
                time.sleep(0.05)
                continue
            return e.code(), e.details()


def expect(outcome, code, text):
    assert outcome is not None, f"expected {code} with {text!r}, the request was applied"
    got, details = outcome
    assert got == code and text in details, f"expected {code} with {text!r}, got {got}: {details}"


def refusals(url):
    client = IngestClient(url)
    good = (900001, "refusal probe", 1.0, True, EPOCH, 1)
    expect(
        send(client, IngestRequest(schema_name="nope", typ=INSERT, new=user_values(good), seq_no=1)),
        grpc.StatusCode.NOT_FOUND,
        "schema `nope` is not ingested by this app (its schemas: events, users)",
    )
    wrong = user_values(good)
    wrong[2] = Value(string_value="high")
    expect(
        send(client, IngestRequest(schema_name="users", typ=INSERT, new=wrong, seq_no=2)),
        grpc.StatusCode.INVALID_ARGUMENT,
        '`new[2]` (column `score`) expects float, got string_value "high"',
    )
    null_name = user_values(good)
    null_name[1] = Value()
    expect(
        send(client, IngestRequest(schema_name="users", typ=INSERT, new=null_name, seq_no=3)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "`new[1]` is NULL, but column `name` of schema `users` is not nullable",
    )
    expect(
        send(client, IngestRequest(schema_name="users", typ=INSERT, new=user_values(good)[:3], seq_no=4)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "`new` has 3 value(s), schema `users` has 6 column(s): id, name, score, active, ts, team",
    )
    expect(
        send(client, IngestRequest(schema_name="users", typ=DELETE, old=user_values(good), seq_no=5)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "a delete of schema `users`: the table holds no such row",
    )
    # A stream is applied whole: one bad message, and none of it is.
    def stream():
        yield IngestRequest(schema_name="users", typ=INSERT, new=user_values(good), seq_no=6)
        yield IngestRequest(schema_name="users", typ=INSERT, new=wrong, seq_no=7)

    try:
        client.ingestor.ingest_stream(stream())
        raise AssertionError("a stream with a bad message was applied")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "message 2 of the stream" in e.details() and "nothing of the stream was applied" in e.details(), e.details()
    expect(
        send(client, IngestRequest(schema_name="users", typ=DELETE, old=user_values(good), seq_no=8)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "the table holds no such row",
    )
    # Arrow batches as pydozer's ingest_df_arrow writes them (polars frames as IPC streams, back
    # to back): three more events, in two batches of two and one.
    frame = pl.DataFrame(
        {
            "user_id": [7, 8, 9],
            "kind": ["arrow", "arrow", "arrow"],
            "at": [EPOCH, EPOCH, EPOCH + datetime.timedelta(microseconds=250)],
        }
    )
    client.ingest_df_arrow("events", frame, batch_size=2, seq_no=40)
    try:
        client.ingest_df_arrow("events", frame.drop("at"), seq_no=50)
        raise AssertionError("a batch without a column was applied")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "the batch has no column `at` of schema `events` (it has: user_id, kind)" in e.details(), e.details()
    # A table without a primary key: deletes name the whole row.
    at = __import__("google.protobuf.timestamp_pb2").protobuf.timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=500_000_000)
    events = [[Value(int_value=uid), Value(string_value=kind), Value(timestamp_value=at)] for uid, kind in [(1, "login"), (2, "login"), (1, "logout")]]
    for i, row in enumerate(events):
        assert send(client, IngestRequest(schema_name="events", typ=INSERT, new=row, seq_no=20 + i)) is None
    assert send(client, IngestRequest(schema_name="events", typ=DELETE, old=events[1], seq_no=30)) is None
    expect(
        send(client, IngestRequest(schema_name="events", typ=DELETE, old=events[1], seq_no=31)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "a delete of schema `events`: the table holds no such row",
    )
    # Reflection lists the ingestion service (pydozer's describe()).
    services = client.describe()
    assert "dozer.ingest.IngestService" in services, services
    print("refusals ok")


def workload(url, seed, changes, out):
    rng = random.Random(seed)
    client = IngestClient(url)
    model = {}
    # A bulk load as pydozer users do it: a polars frame through ingest_stream.
    first = [random_user(rng, uid) for uid in range(1, 201)]
    frame = pl.DataFrame(
        {
            "id": [u[0] for u in first],
            "name": [u[1] for u in first],
            "score": [u[2] for u in first],
            "active": [u[3] for u in first],
            "ts": [u[4] for u in first],
            "team": [u[5] for u in first],
        }
    )
    while True:
        try:
            client.ingest_df("users", frame, seq_no=1)
            break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            time.sleep(0.05)
    for u in first:
        model[u[0]] = u
    next_id = 201
    for seq in range(2, changes + 2):
        pick = rng.random()
        if pick < 0.5 or not model:
            uid = next_id if rng.random() < 0.7 or not model else rng.choice(list(model))
            next_id = max(next_id, uid + 1)
            new = random_user(rng, uid)
            request = IngestRequest(schema_name="users", typ=INSERT, new=user_values(new), seq_no=seq)
            outcome = send(client, request)
            assert outcome is None, outcome
            model[uid] = new
        elif pick < 0.8:
            uid = rng.choice(list(model))
            new = random_user(rng, uid)
            request = IngestRequest(
                schema_name="users", typ=UPDATE, old=user_values(model[uid]), new=user_values(new), seq_no=seq
            )
            outcome = send(client, request)
            assert outcome is None, outcome
            model[uid] = new
        else:
            uid = rng.choice(list(model))
            request = IngestRequest(schema_name="users", typ=DELETE, old=user_values(model[uid]), seq_no=seq)
            outcome = send(client, request)
            # Applied by an attempt whose answer a crash swallowed: already gone.
            if outcome is not None:
                expect(outcome, grpc.StatusCode.FAILED_PRECONDITION, "the table holds no such row")
            del model[uid]
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "score", "active", "ts", "team"])
        for uid in sorted(model):
            u = model[uid]
            w.writerow([u[0], u[1], "" if u[2] is None else u[2], "true" if u[3] else "false", u[4].strftime("%Y-%m-%d %H:%M:%S"), "" if u[5] is None else u[5]])
    print(f"{changes} changes, {len(model)} users")


if __name__ == "__main__":
    if sys.argv[1] == "refusals":
        refusals(sys.argv[2])
    else:
        workload(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
