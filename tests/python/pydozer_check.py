"""Dozer's Python client against a dozerc app: prints what it receives as one JSON object.

Usage: pydozer_check.py <grpc address> <endpoint>
       pydozer_check.py <grpc address> <endpoint> events <sales data dir>
The second form subscribes with on_event, then adds a sale for the country "Lemuria" as a new
file, and reports the event that brings it.
"""
import json
import os
import sys
import threading

from pydozer.api import ApiClient


def value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "decimal_value":
        d = v.decimal_value
        mantissa = (d.hi << 64) | (d.mid << 32) | d.lo
        return ("-" if d.negative else "") + str(mantissa / 10**d.scale)
    return str(getattr(v, kind))


HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def events(client, data_dir):
    stream = client.on_event()
    stream.initial_metadata()  # the server has subscribed us
    timer = threading.Timer(60, stream.cancel)
    timer.start()
    tmp = os.path.join(data_dir, ".sales_3.csv.tmp")
    with open(tmp, "w") as f:
        f.write(HEADER + "\n999002,85123A,WHITE HANGING HEART,2,2011-12-09 14:00:00,2.55,12346,Lemuria\n")
    os.rename(tmp, os.path.join(data_dir, "sales_3.csv"))
    for op in stream:
        if value(op.new.values[0]) == "Lemuria":
            timer.cancel()
            stream.cancel()
            return {"typ": op.typ, "endpoint": op.endpoint_name, "country": "Lemuria", "id": op.new.id}
    return {"error": "the stream ended without the event"}


def main():
    url, endpoint = sys.argv[1], sys.argv[2]
    client = ApiClient(endpoint, url=url)
    if len(sys.argv) > 3 and sys.argv[3] == "events":
        print(json.dumps(events(client, sys.argv[4])))
        return
    out = {}
    out["health"] = client.health().status
    res = client.query({"$filter": {"TotalSales": {"$gt": 100}}, "$order_by": {"TotalSales": "desc"}, "$limit": 5})
    out["fields"] = [[f.name, f.typ, f.nullable] for f in res.fields]
    out["records"] = [[r.id, [value(v) for v in r.values]] for r in res.records]
    out["count"] = client.count().count
    out["count_filtered"] = client.count({"$filter": {"Country": "France"}}).count
    out["services"] = sorted(client.describe().keys())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
