"""The generic part of a dozerc Python SDK: HTTP, errors, value decoding, the live change stream.

Written by dozerc, the same for every app; ``__init__.py`` describes this app's endpoints.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import decimal
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Generic,
    Iterator,
    Literal,
    Mapping,
    Optional,
    Sequence,
    TypedDict,
    TypeVar,
    Union,
)

import httpx

__all__ = [
    "AsyncEndpoint",
    "AsyncSubscription",
    "BadRequestError",
    "ChangeEvent",
    "ConnectionError",
    "Direction",
    "DozerError",
    "Endpoint",
    "EventTypes",
    "ForbiddenError",
    "GoneError",
    "NotFoundError",
    "Subscription",
    "UnauthorizedError",
    "UnavailableError",
    "UnprocessableError",
]


class DozerError(Exception):
    """An answer of the API other than success: its HTTP status and the server's message."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


class BadRequestError(DozerError):
    """400: the request is malformed (a filter's field or operator, a key, a position)."""


class UnauthorizedError(DozerError):
    """401: no token, or one the app does not accept."""


class ForbiddenError(DozerError):
    """403: the token does not give access to this endpoint."""


class NotFoundError(DozerError):
    """404: no record has this key."""


class GoneError(DozerError):
    """410: the change stream no longer holds the position asked for."""


class UnprocessableError(DozerError):
    """422: the request cannot be answered (a query too large to scan)."""


class UnavailableError(DozerError):
    """503: the app is not ready yet."""


class ConnectionError(DozerError):
    """The app could not be reached, or the connection broke (``status`` 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


_ERRORS: dict[int, type[DozerError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    410: GoneError,
    422: UnprocessableError,
    503: UnavailableError,
}


def _error(status: int, body: Any) -> DozerError:
    message = body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str):
        message = f"HTTP {status}"
    return _ERRORS.get(status, DozerError)(status, message, body)


def _answer_error(response: httpx.Response) -> DozerError:
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text}
    return _error(response.status_code, body)


# Conditions of filters, by the type of the field. A bare value (or None) means `$eq`.
BoolOps = TypedDict(
    "BoolOps",
    {"$eq": Optional[bool], "$ne": Optional[bool], "$in": Sequence[bool]},
    total=False,
)
IntOps = TypedDict(
    "IntOps",
    {
        "$eq": Optional[int],
        "$ne": Optional[int],
        "$in": Sequence[int],
        "$lt": int,
        "$lte": int,
        "$gt": int,
        "$gte": int,
    },
    total=False,
)
FloatOps = TypedDict(
    "FloatOps",
    {
        "$eq": Optional[float],
        "$ne": Optional[float],
        "$in": Sequence[float],
        "$lt": float,
        "$lte": float,
        "$gt": float,
        "$gte": float,
    },
    total=False,
)
DecimalOps = TypedDict(
    "DecimalOps",
    {
        "$eq": Optional[Union[decimal.Decimal, str]],
        "$ne": Optional[Union[decimal.Decimal, str]],
        "$in": Sequence[Union[decimal.Decimal, str]],
        "$lt": Union[decimal.Decimal, str],
        "$lte": Union[decimal.Decimal, str],
        "$gt": Union[decimal.Decimal, str],
        "$gte": Union[decimal.Decimal, str],
    },
    total=False,
)
StringOps = TypedDict(
    "StringOps",
    {
        "$eq": Optional[str],
        "$ne": Optional[str],
        "$in": Sequence[str],
        "$lt": str,
        "$lte": str,
        "$gt": str,
        "$gte": str,
        "$contains": str,
        "$matches_any": Sequence[str],
        "$matches_all": Sequence[str],
    },
    total=False,
)
TimestampOps = TypedDict(
    "TimestampOps",
    {
        "$eq": Optional[datetime.datetime],
        "$ne": Optional[datetime.datetime],
        "$in": Sequence[datetime.datetime],
        "$lt": datetime.datetime,
        "$lte": datetime.datetime,
        "$gt": datetime.datetime,
        "$gte": datetime.datetime,
    },
    total=False,
)
DateOps = TypedDict(
    "DateOps",
    {
        "$eq": Optional[datetime.date],
        "$ne": Optional[datetime.date],
        "$in": Sequence[datetime.date],
        "$lt": datetime.date,
        "$lte": datetime.date,
        "$gt": datetime.date,
        "$gte": datetime.date,
    },
    total=False,
)
JsonOps = TypedDict(
    "JsonOps",
    {"$eq": Any, "$ne": Any, "$in": Sequence[Any]},
    total=False,
)

BoolCondition = Union[bool, None, BoolOps]
IntCondition = Union[int, None, IntOps]
FloatCondition = Union[float, None, FloatOps]
DecimalCondition = Union[decimal.Decimal, str, None, DecimalOps]
StringCondition = Union[str, None, StringOps]
TimestampCondition = Union[datetime.datetime, None, TimestampOps]
DateCondition = Union[datetime.date, None, DateOps]
JsonCondition = Union[bool, int, float, str, list[Any], None, JsonOps]

Direction = Literal["asc", "desc"]
EventTypes = Literal["ALL", "INSERT_ONLY", "UPDATE_ONLY", "DELETE_ONLY"]


def _timestamp(text: str) -> datetime.datetime:
    # RFC 3339 as the API writes it: `Z` or an offset, up to nine fraction digits (Python keeps
    # six).
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    return datetime.datetime.fromisoformat(text)


def _float(v: Any) -> float:
    if isinstance(v, str):
        return float(v)  # "NaN", "inf", "-inf"
    return float(v)


def _duration(v: Any) -> datetime.timedelta:
    value = int(v["value"])
    if v.get("time_unit") == "Nanoseconds":
        return datetime.timedelta(microseconds=value / 1000)
    return datetime.timedelta(milliseconds=value)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "boolean": bool,
    "int": int,
    "uint": int,
    "float": _float,
    "decimal": decimal.Decimal,
    "string": str,
    "text": str,
    "binary": bytes,
    "timestamp": _timestamp,
    "date": datetime.date.fromisoformat,
    "json": lambda v: v,
    "duration": _duration,
}


def _encode(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value!r}: a timestamp in a filter needs a time zone")
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a filter value")


def _json(value: Any) -> str:
    return json.dumps(value, default=_encode, separators=(",", ":"))


R = TypeVar("R")
F = TypeVar("F")
O = TypeVar("O", bound=str)
K = TypeVar("K")
C = TypeVar("C", bound="BaseClient")
A = TypeVar("A", bound="BaseAsyncClient")


@dataclass(frozen=True)
class Spec(Generic[R]):
    """How one endpoint's records look: (JSON name, attribute, kind) per field."""

    name: str
    path: str
    record: Callable[..., R]
    fields: tuple[tuple[str, str, str], ...]
    #: The key's kind, "id" (record id), or None (no read by key).
    key: Optional[str]

    def decode(self, raw: Any) -> R:
        values = {
            attribute: None if raw.get(name) is None else _DECODERS[kind](raw[name])
            for name, attribute, kind in self.fields
        }
        return self.record(
            **values,
            record_id=raw["__dozer_record_id"],
            record_version=raw["__dozer_record_version"],
        )


@dataclass(frozen=True)
class ChangeEvent(Generic[R]):
    """One change of an endpoint. ``new`` is the record after the change (for ``DELETE``, the
    deleted record); ``old`` the record before an ``UPDATE``."""

    position: int
    type: Literal["INSERT", "UPDATE", "DELETE"]
    endpoint: str
    old: Optional[R]
    new: R


def _query_body(
    filter: Any, order_by: Optional[Mapping[Any, str]], limit: Optional[int], skip: Optional[int], after: Optional[int]
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if filter is not None:
        body["$filter"] = filter
    if order_by is not None:
        for field, direction in order_by.items():
            if direction not in ("asc", "desc"):
                raise ValueError(f"order_by[{field!r}]: expected 'asc' or 'desc', got {direction!r}")
        body["$order_by"] = dict(order_by)
    if limit is not None:
        body["$limit"] = limit
    if skip is not None:
        body["$skip"] = skip
    if after is not None:
        body["$after"] = after
    return body


def _key_path(spec: Spec[Any], key: Any) -> str:
    if spec.key is None:
        raise TypeError(f"{spec.name}: records are not read by key here (a composite or empty key); use query()")
    if isinstance(key, (datetime.date, decimal.Decimal)):
        key = _encode(key)
    return f"{spec.path}/{urllib.parse.quote(str(key), safe='')}"


def _headers(token: Optional[str]) -> dict[str, str]:
    headers = {"accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


class _SseParser:
    """Server-Sent Events as the API writes them: `id:` positions, `event: error`, comments."""

    def __init__(self) -> None:
        self.id: Optional[str] = None
        self.event: Optional[str] = None
        self.data: list[str] = []

    def line(self, line: str) -> Optional[tuple[Optional[str], Optional[str], Optional[str]]]:
        """Feeds one line; returns (id, event, data) at the end of a message."""
        if line == "":
            frame = (self.id, self.event, "\n".join(self.data) if self.data else None)
            self.id, self.event, self.data = None, None, []
            return frame
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "id":
            self.id = value
        elif field == "event":
            self.event = value
        elif field == "data":
            self.data.append(value)
        return None


def _event(spec: Spec[R], data: str) -> ChangeEvent[R]:
    raw = json.loads(data)
    return ChangeEvent(
        position=raw["position"],
        type=raw["type"],
        endpoint=raw["endpoint"],
        old=None if raw.get("old") is None else spec.decode(raw["old"]),
        new=spec.decode(raw["new"]),
    )


def _events_params(filter: Any, types: Optional[str]) -> dict[str, str]:
    params = {}
    if filter is not None:
        params["filter"] = _json(filter)
    if types is not None:
        if types not in ("ALL", "INSERT_ONLY", "UPDATE_ONLY", "DELETE_ONLY"):
            raise ValueError(f"types: expected ALL, INSERT_ONLY, UPDATE_ONLY or DELETE_ONLY, got {types!r}")
        params["type"] = types
    return params


class _Dropped(Exception):
    """The change stream's connection ended."""


#: How long a change stream may stay silent before it counts as dropped (the server sends a
#: keep-alive every 15 seconds).
STREAM_SILENCE = 45.0


class Endpoint(Generic[R, F, O, K]):
    """One endpoint through the synchronous client."""

    def __init__(self, http: httpx.Client, spec: Spec[R], token: Optional[str], retry_delay: float) -> None:
        self._http = http
        self._spec = spec
        self._token = token
        self._retry_delay = retry_delay

    @property
    def name(self) -> str:
        return self._spec.name

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(
                method,
                path,
                content=None if body is None else _json(body),
                headers={**_headers(self._token), "content-type": "application/json"},
            )
        except httpx.TransportError as e:
            raise ConnectionError(f"cannot reach {self._http.base_url}: {e}") from e
        if response.status_code >= 400:
            raise _answer_error(response)
        return response.json()

    def get(self, key: K) -> R:
        """The record with this key (record id for an endpoint without a key)."""
        return self._spec.decode(self._send("GET", _key_path(self._spec, key)))

    def query(
        self,
        filter: Optional[F] = None,
        order_by: Optional[Mapping[O, Direction]] = None,
        limit: Optional[int] = None,
        skip: Optional[int] = None,
        after: Optional[int] = None,
    ) -> list[R]:
        """Records matching ``filter``, sorted by ``order_by``, paged by ``limit``/``skip`` or
        ``after`` (the last record id seen)."""
        body = _query_body(filter, order_by, limit, skip, after)
        return [self._spec.decode(r) for r in self._send("POST", f"{self._spec.path}/query", body)]

    def count(self, filter: Optional[F] = None) -> int:
        """How many records match ``filter``."""
        body = {} if filter is None else {"$filter": filter}
        return int(self._send("POST", f"{self._spec.path}/count", body))

    def subscribe(
        self, filter: Optional[F] = None, types: Optional[EventTypes] = None, resume_after: Optional[int] = None
    ) -> Subscription[R]:
        """The endpoint's live changes; returns once the server has taken the subscription."""
        subscription = Subscription(self, _events_params(filter, types), resume_after)
        subscription._connect()
        return subscription


class Subscription(Generic[R]):
    """A live change stream: an iterator of change events in position order, each once. A dropped
    connection is reopened from the last position seen."""

    def __init__(self, endpoint: Endpoint[R, Any, Any, Any], params: dict[str, str], resume_after: Optional[int]) -> None:
        self._endpoint = endpoint
        self._params = params
        #: The position of the last event received (or the one the stream started after).
        self.position: Optional[int] = resume_after
        self._response: Optional[httpx.Response] = None
        self._lines: Optional[Iterator[str]] = None
        self._pending: collections.deque[ChangeEvent[R]] = collections.deque()
        self._closed = False

    def _connect(self) -> None:
        e = self._endpoint
        headers = {**_headers(e._token), "accept": "text/event-stream"}
        if self.position is not None:
            headers["last-event-id"] = str(self.position)
        request = e._http.build_request(
            "GET",
            f"{e._spec.path}/events",
            params=self._params,
            headers=headers,
            timeout=httpx.Timeout(30.0, read=STREAM_SILENCE),
        )
        try:
            response = e._http.send(request, stream=True)
        except httpx.TransportError as error:
            raise ConnectionError(f"cannot reach {e._http.base_url}: {error}") from error
        if response.status_code >= 400:
            response.read()
            response.close()
            raise _answer_error(response)
        self._response = response
        self._lines = response.iter_lines()
        # The stream opens with the position it follows from: known from here on, so a stream
        # dropped before its first change still resumes exactly where it began.
        if self.position is None:
            self._pending.extend(self._frames(until_position=True))

    def _frames(self, until_position: bool = False) -> Iterator[ChangeEvent[R]]:
        """The events of the next message (none for a keep-alive or the opening frame)."""
        assert self._lines is not None
        parser = _SseParser()
        for line in self._lines:
            frame = parser.line(line)
            if frame is None:
                continue
            id, event, data = frame
            if id:
                self.position = int(id)
            if data is not None:
                if event == "error":
                    self.close()
                    raw = json.loads(data)
                    raise _error(int(raw.get("status", 500)), raw)
                yield _event(self._endpoint._spec, data)
                return
            if until_position and self.position is not None:
                return
        raise _Dropped

    def _reconnect(self) -> None:
        while not self._closed:
            time.sleep(self._endpoint._retry_delay)
            try:
                self._connect()
                return
            except (ConnectionError, UnavailableError):
                continue

    def __iter__(self) -> Iterator[ChangeEvent[R]]:
        return self

    def __next__(self) -> ChangeEvent[R]:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                raise StopIteration
            try:
                self._pending.extend(self._frames())
            except (_Dropped, httpx.TransportError):
                if self._closed:
                    raise StopIteration from None
                if self._response is not None:
                    self._response.close()
                self._reconnect()

    def close(self) -> None:
        self._closed = True
        if self._response is not None:
            self._response.close()

    def __enter__(self) -> Subscription[R]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncEndpoint(Generic[R, F, O, K]):
    """One endpoint through the asyncio client."""

    def __init__(self, http: httpx.AsyncClient, spec: Spec[R], token: Optional[str], retry_delay: float) -> None:
        self._http = http
        self._spec = spec
        self._token = token
        self._retry_delay = retry_delay

    @property
    def name(self) -> str:
        return self._spec.name

    async def _send(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http.request(
                method,
                path,
                content=None if body is None else _json(body),
                headers={**_headers(self._token), "content-type": "application/json"},
            )
        except httpx.TransportError as e:
            raise ConnectionError(f"cannot reach {self._http.base_url}: {e}") from e
        if response.status_code >= 400:
            raise _answer_error(response)
        return response.json()

    async def get(self, key: K) -> R:
        """The record with this key (record id for an endpoint without a key)."""
        return self._spec.decode(await self._send("GET", _key_path(self._spec, key)))

    async def query(
        self,
        filter: Optional[F] = None,
        order_by: Optional[Mapping[O, Direction]] = None,
        limit: Optional[int] = None,
        skip: Optional[int] = None,
        after: Optional[int] = None,
    ) -> list[R]:
        """Records matching ``filter``, sorted by ``order_by``, paged by ``limit``/``skip`` or
        ``after`` (the last record id seen)."""
        body = _query_body(filter, order_by, limit, skip, after)
        return [self._spec.decode(r) for r in await self._send("POST", f"{self._spec.path}/query", body)]

    async def count(self, filter: Optional[F] = None) -> int:
        """How many records match ``filter``."""
        body = {} if filter is None else {"$filter": filter}
        return int(await self._send("POST", f"{self._spec.path}/count", body))

    async def subscribe(
        self, filter: Optional[F] = None, types: Optional[EventTypes] = None, resume_after: Optional[int] = None
    ) -> AsyncSubscription[R]:
        """The endpoint's live changes; returns once the server has taken the subscription."""
        subscription = AsyncSubscription(self, _events_params(filter, types), resume_after)
        await subscription._connect()
        return subscription


class AsyncSubscription(Generic[R]):
    """A live change stream: an async iterator of change events in position order, each once. A
    dropped connection is reopened from the last position seen."""

    def __init__(self, endpoint: AsyncEndpoint[R, Any, Any, Any], params: dict[str, str], resume_after: Optional[int]) -> None:
        self._endpoint = endpoint
        self._params = params
        #: The position of the last event received (or the one the stream started after).
        self.position: Optional[int] = resume_after
        self._response: Optional[httpx.Response] = None
        self._lines: Optional[AsyncIterator[str]] = None
        self._pending: collections.deque[ChangeEvent[R]] = collections.deque()
        self._closed = False

    async def _connect(self) -> None:
        e = self._endpoint
        headers = {**_headers(e._token), "accept": "text/event-stream"}
        if self.position is not None:
            headers["last-event-id"] = str(self.position)
        request = e._http.build_request(
            "GET",
            f"{e._spec.path}/events",
            params=self._params,
            headers=headers,
            timeout=httpx.Timeout(30.0, read=STREAM_SILENCE),
        )
        try:
            response = await e._http.send(request, stream=True)
        except httpx.TransportError as error:
            raise ConnectionError(f"cannot reach {e._http.base_url}: {error}") from error
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise _answer_error(response)
        self._response = response
        self._lines = response.aiter_lines()
        # The stream opens with the position it follows from (see Subscription._connect).
        if self.position is None:
            self._pending.extend(await self._frames(until_position=True))

    async def _frames(self, until_position: bool = False) -> list[ChangeEvent[R]]:
        """The events of the next message (none for a keep-alive or the opening frame)."""
        assert self._lines is not None
        parser = _SseParser()
        async for line in self._lines:
            frame = parser.line(line)
            if frame is None:
                continue
            id, event, data = frame
            if id:
                self.position = int(id)
            if data is not None:
                if event == "error":
                    await self.aclose()
                    raw = json.loads(data)
                    raise _error(int(raw.get("status", 500)), raw)
                return [_event(self._endpoint._spec, data)]
            if until_position and self.position is not None:
                return []
        raise _Dropped

    async def _reconnect(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._endpoint._retry_delay)
            try:
                await self._connect()
                return
            except (ConnectionError, UnavailableError):
                continue

    def __aiter__(self) -> AsyncIterator[ChangeEvent[R]]:
        return self

    async def __anext__(self) -> ChangeEvent[R]:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                raise StopAsyncIteration
            try:
                self._pending.extend(await self._frames())
            except (_Dropped, httpx.TransportError):
                if self._closed:
                    raise StopAsyncIteration from None
                if self._response is not None:
                    await self._response.aclose()
                await self._reconnect()

    async def aclose(self) -> None:
        self._closed = True
        if self._response is not None:
            await self._response.aclose()

    async def __aenter__(self) -> AsyncSubscription[R]:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class BaseClient:
    """The synchronous connection to one app; the generated ``Client`` adds its endpoints."""

    def __init__(
        self,
        url: str,
        *,
        token: Optional[str] = None,
        timeout: float = 30.0,
        retry_delay: float = 1.0,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, transport=transport)
        self._token = token
        self._retry_delay = retry_delay

    def _endpoint(self, spec: Spec[R]) -> Endpoint[R, Any, Any, Any]:
        return Endpoint(self._http, spec, self._token, self._retry_delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class BaseAsyncClient:
    """The asyncio connection to one app; the generated ``AsyncClient`` adds its endpoints."""

    def __init__(
        self,
        url: str,
        *,
        token: Optional[str] = None,
        timeout: float = 30.0,
        retry_delay: float = 1.0,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, transport=transport)
        self._token = token
        self._retry_delay = retry_delay

    def _endpoint(self, spec: Spec[R]) -> AsyncEndpoint[R, Any, Any, Any]:
        return AsyncEndpoint(self._http, spec, self._token, self._retry_delay)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self: A) -> A:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
