"""The Python SDK of the e-commerce example against the running app, driven by tests/sdk.rs.

`sdk_scenario.py URL MODE BEFORE AFTER`, MODE `sync` or `async`: reads by key, queries, counts,
then follows the change stream while the test appends files (one country before an app
restart, one after) and restarts the app. Prints one JSON line per step; reads the test's cues
from stdin.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import json
import sys
from typing import Any

from ecommerce_client import (
    AsyncClient,
    BadRequestError,
    ChangeEvent,
    Client,
    NotFoundError,
    SalesByCountryRecord,
)


def say(step: str, **data: Any) -> None:
    print(json.dumps({"step": step, **data}, default=str), flush=True)


def cue(word: str) -> None:
    line = sys.stdin.readline().strip()
    if line != word:
        raise RuntimeError(f"expected the cue {word}, got {line!r}")


def summary(e: ChangeEvent[SalesByCountryRecord]) -> dict[str, Any]:
    return {
        "position": e.position,
        "type": e.type,
        "country": e.new.Country,
        "version": e.new.record_version,
        "oldVersion": None if e.old is None else e.old.record_version,
    }


def reads(
    countries: list[SalesByCountryRecord],
    count: int,
    big: int,
    top: list[SalesByCountryRecord],
    france: SalesByCountryRecord,
    customer: Any,
    start: datetime.datetime,
    missing: str,
    refused: str,
) -> None:
    assert isinstance(france.TotalSales, decimal.Decimal)
    assert start.tzinfo is not None
    say(
        "reads",
        countries=[c.Country for c in countries],
        count=count,
        big=big,
        top=[c.Country for c in top],
        france=str(france.TotalSales),
        customer=customer.CustomerID,
        customerType=type(customer.CustomerID).__name__,
        lifetimeValue=str(customer.LifetimeValue),
        missing=missing,
        refused=refused,
    )


def run_sync(url: str, before: str, after: str) -> None:
    with Client(url, retry_delay=0.2) as api:
        countries = api.sales_by_country.query(order_by={"Country": "asc"})
        count = api.sales_by_country.count()
        big = api.sales_by_country.count({"TotalSales": {"$gt": decimal.Decimal(100)}})
        top = api.sales_by_country.query(
            filter={"$or": [{"TotalSales": {"$gt": "100"}}, {"Country": {"$contains": "an"}}]},
            order_by={"TotalSales": "desc"},
            limit=3,
        )
        france = api.sales_by_country.get("France")
        first = api.clv.query(filter={"CustomerID": {"$ne": None}}, limit=1)[0]
        assert first.CustomerID is not None
        customer = api.clv.get(first.CustomerID)
        window = api.daily_sales.query(
            filter={"start": {"$gte": datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)}},
            order_by={"start": "asc"},
            limit=1,
        )[0]
        missing = refused = ""
        try:
            api.sales_by_country.get("Nowhere")
        except NotFoundError as err:
            missing = f"{err.status}: {err.message}"
        try:
            api.sales_by_country.query(filter={"Land": 1})  # type: ignore[arg-type]
        except BadRequestError as err:
            refused = f"{err.status}: {err.message}"
        reads(countries, count, big, top, france, customer, window.start, missing, refused)

        with api.sales_by_country.subscribe() as stream:
            say("subscribed", position=stream.position)
            cue("appended")
            seen: list[ChangeEvent[SalesByCountryRecord]] = []
            for e in stream:
                seen.append(e)
                say("event", **summary(e))
                if len(seen) == 4:
                    break
        again: list[ChangeEvent[SalesByCountryRecord]] = []
        with api.sales_by_country.subscribe(resume_after=seen[1].position) as resumed:
            for e in resumed:
                again.append(e)
                if len(again) == 2:
                    break
        both = api.sales_by_country.count({"Country": {"$in": [before, after]}})
        say("done", resumed=[summary(e) for e in again], both=both)


async def run_async(url: str, before: str, after: str) -> None:
    async with AsyncClient(url, retry_delay=0.2) as api:
        countries, count, big, top, france, first = await asyncio.gather(
            api.sales_by_country.query(order_by={"Country": "asc"}),
            api.sales_by_country.count(),
            api.sales_by_country.count({"TotalSales": {"$gt": decimal.Decimal(100)}}),
            api.sales_by_country.query(
                filter={"$or": [{"TotalSales": {"$gt": "100"}}, {"Country": {"$contains": "an"}}]},
                order_by={"TotalSales": "desc"},
                limit=3,
            ),
            api.sales_by_country.get("France"),
            api.clv.query(filter={"CustomerID": {"$ne": None}}, limit=1),
        )
        assert first[0].CustomerID is not None
        customer = await api.clv.get(first[0].CustomerID)
        window = (await api.daily_sales.query(order_by={"start": "asc"}, limit=1))[0]
        missing = refused = ""
        try:
            await api.sales_by_country.get("Nowhere")
        except NotFoundError as err:
            missing = f"{err.status}: {err.message}"
        try:
            await api.sales_by_country.query(filter={"Land": 1})  # type: ignore[arg-type]
        except BadRequestError as err:
            refused = f"{err.status}: {err.message}"
        reads(countries, count, big, top, france, customer, window.start, missing, refused)

        async with await api.sales_by_country.subscribe() as stream:
            say("subscribed", position=stream.position)
            await asyncio.get_running_loop().run_in_executor(None, cue, "appended")
            seen: list[ChangeEvent[SalesByCountryRecord]] = []
            async for e in stream:
                seen.append(e)
                say("event", **summary(e))
                if len(seen) == 4:
                    break
        again: list[ChangeEvent[SalesByCountryRecord]] = []
        async with await api.sales_by_country.subscribe(resume_after=seen[1].position) as resumed:
            async for e in resumed:
                again.append(e)
                if len(again) == 2:
                    break
        both = await api.sales_by_country.count({"Country": {"$in": [before, after]}})
        say("done", resumed=[summary(e) for e in again], both=both)


def main() -> None:
    url, mode, before, after = sys.argv[1:5]
    if mode == "sync":
        run_sync(url, before, after)
    else:
        asyncio.run(run_async(url, before, after))


if __name__ == "__main__":
    main()
