"""Dozer's Python client against a dozerc app with JWT authentication: prints what it gets as one
JSON object.

Usage: pydozer_auth_check.py <grpc address> <master token>
AuthClient asks for a token scoped to the customer "ann" of `orders`; ApiClient reads with it,
with the master token, and with no token.
"""
import json
import sys

import grpc
from pydozer.api import ApiClient
from pydozer.auth import AuthClient


def customers(response):
    index = [f.name for f in response.fields].index("customer")
    return sorted(r.values[index].string_value for r in response.records)


def main():
    url, master = sys.argv[1], sys.argv[2]
    scoped = AuthClient(master, url=url).get_auth_token(
        {"Custom": {"orders": {"filter": {"customer": "ann"}}}}
    )
    out = {}
    with_scope = ApiClient("orders", url=url, token=scoped)
    out["scoped_customers"] = customers(with_scope.query())
    out["scoped_count"] = with_scope.count().count
    with_master = ApiClient("orders", url=url, token=master)
    out["master_count"] = with_master.count().count
    try:
        ApiClient("orders", url=url).count()
        out["anonymous"] = "answered"
    except grpc.RpcError as e:
        out["anonymous"] = e.code().name
    try:
        AuthClient(scoped, url=url).get_auth_token()
        out["scoped_issues"] = "answered"
    except grpc.RpcError as e:
        out["scoped_issues"] = e.code().name
    print(json.dumps(out))


if __name__ == "__main__":
    main()
