"""Dozer's Python client against a dozerc app: prints what it receives as one JSON object.

Usage: pydozer_check.py <grpc address> <endpoint>
"""
import json
import sys

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


def main():
    url, endpoint = sys.argv[1], sys.argv[2]
    client = ApiClient(endpoint, url=url)
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
