"""A typed gRPC service of a dozerc app, through Python stubs generated (grpc_tools.protoc) from
the .proto files that dozerc wrote next to the config: prints what it receives as one JSON object.

Usage: typed_check.py <grpc address> <proto dir> <stub dir> sales_by_country
       typed_check.py <grpc address> <proto dir> <stub dir> sales_by_country events <sales data dir>
The second form subscribes with on_event, adds a sale for the country "Thule" as a new file, and
reports the event that brings it.
"""
import importlib
import json
import os
import sys
import threading

import grpc
import grpc_tools
from grpc_tools import protoc

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def stubs(proto_dir, out_dir, endpoint):
    os.makedirs(out_dir, exist_ok=True)
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = ["dozer/types.proto", f"dozer/generated/{endpoint}.proto"]
    args = ["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if protoc.main(args + files) != 0:
        raise SystemExit("protoc rejected the emitted .proto files")
    sys.path.insert(0, out_dir)
    messages = importlib.import_module(f"dozer.generated.{endpoint}_pb2")
    services = importlib.import_module(f"dozer.generated.{endpoint}_pb2_grpc")
    return messages, services


def decimal(d):
    mantissa = (d.hi << 64) | (d.mid << 32) | d.lo
    return ("-" if d.negative else "") + str(mantissa / 10**d.scale)


def main():
    url, proto_dir, out_dir, endpoint = sys.argv[1:5]
    m, s = stubs(proto_dir, out_dir, endpoint)
    stub = s.SalesByCountryStub(grpc.insecure_channel(url))
    if len(sys.argv) > 5 and sys.argv[5] == "events":
        stream = stub.on_event(m.SalesByCountryEventRequest(type=0))
        stream.initial_metadata()  # the server has subscribed us
        timer = threading.Timer(60, stream.cancel)
        timer.start()
        data_dir = sys.argv[6]
        tmp = os.path.join(data_dir, ".sales_2c.csv.tmp")
        with open(tmp, "w") as f:
            f.write(HEADER + "\n999003,85123A,WHITE HANGING HEART,4,2011-12-09 15:00:00,2.55,12346,Thule\n")
        os.rename(tmp, os.path.join(data_dir, "sales_2c.csv"))
        for ev in stream:
            if ev.new.Country == "Thule":
                timer.cancel()
                stream.cancel()
                print(json.dumps({"typ": ev.typ, "id": ev.id, "position": ev.position,
                                  "version": ev.new.__dozer_record_version,
                                  "total": decimal(ev.new.TotalSales), "has_old": ev.HasField("old")}))
                return
        raise SystemExit("the stream ended without the event")
    out = {}
    q = json.dumps({"$filter": {"TotalSales": {"$gt": 100}}, "$order_by": {"TotalSales": "desc"}, "$limit": 5})
    res = stub.query(m.QuerySalesByCountryRequest(query=q))
    out["records"] = [[r.id, r.record.Country, decimal(r.record.TotalSales), r.record.__dozer_record_version]
                      for r in res.records]
    out["count"] = stub.count(m.QuerySalesByCountryRequest()).count
    out["count_filtered"] = stub.count(m.QuerySalesByCountryRequest(query='{"$filter": {"Country": "France"}}')).count
    try:
        stub.query(m.QuerySalesByCountryRequest(query='{"$filter": {"Land": 1}}'))
        out["bad"] = None
    except grpc.RpcError as e:
        out["bad"] = [e.code().name, e.details()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
