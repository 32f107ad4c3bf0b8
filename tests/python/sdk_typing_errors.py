"""Must not pass `mypy --strict`: each statement misuses the typed SDK (tests/sdk.rs counts the
errors, one per line that ends in an `error:` comment)."""

from ecommerce_client import Client

api = Client()
api.sales_by_country.query(filter={"Land": "France"})  # error: no such field
api.bestsellers.query(filter={"BuyCount": {"$contains": "1"}})  # error: not a string field
api.bestsellers.query(order_by={"Land": "asc"})  # error: no such field to sort by
api.clv.get("12346")  # error: the key is an int
