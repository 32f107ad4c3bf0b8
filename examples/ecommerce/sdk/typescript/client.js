// The generic part of a dozerc TypeScript SDK: HTTP, errors, value decoding, the live change
// stream. Written by dozerc, the same for every app; `index.js` describes this app's endpoints.
// It needs nothing but `fetch` (Node >= 18, every current browser).

/** An answer of the API other than success: its HTTP status and the server's message. */
export class DozerError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.body = body;
  }
}
/** 400: the request is malformed (a filter's field or operator, a key, a position). */
export class BadRequestError extends DozerError {}
/** 401: no token, or one the app does not accept. */
export class UnauthorizedError extends DozerError {}
/** 403: the token does not give access to this endpoint. */
export class ForbiddenError extends DozerError {}
/** 404: no record has this key, or no such endpoint. */
export class NotFoundError extends DozerError {}
/** 410: the change stream no longer holds the position asked for (past the retention). */
export class GoneError extends DozerError {}
/** 422: the request is well formed but cannot be answered (a query too large to scan). */
export class UnprocessableError extends DozerError {}
/** 503: the app is not ready yet (still taking its first snapshot). */
export class UnavailableError extends DozerError {}
/** The server could not be reached, or the connection broke. `status` is 0. */
export class ConnectionError extends DozerError {
  constructor(message, cause) {
    super(0, message, undefined);
    this.cause = cause;
  }
}

const ERROR_CLASSES = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  410: GoneError,
  422: UnprocessableError,
  503: UnavailableError,
};

function errorOf(status, body) {
  const message =
    body && typeof body === "object" && typeof body.error === "string"
      ? body.error
      : `HTTP ${status}`;
  const Class = ERROR_CLASSES[status] ?? DozerError;
  return new Class(status, message, body);
}

/** Values of JSON answers as the SDK's types: 64-bit integers as `bigint` (the SDK asks for
 * them as strings, `X-Dozer-Int64: string`, so none loses precision), non-finite floats from
 * their names, binary from its byte array. */
function decodeValue(kind, v) {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case "int":
    case "uint":
      return BigInt(v);
    case "float":
      if (typeof v === "string") {
        if (v === "NaN") return NaN;
        if (v === "inf" || v === "+inf") return Infinity;
        if (v === "-inf") return -Infinity;
        return Number(v);
      }
      return v;
    case "binary":
      return Uint8Array.from(v);
    default:
      return v;
  }
}

function decodeRecord(fields, raw) {
  if (raw === null || raw === undefined) return null;
  const out = {};
  for (const [name, kind] of fields) {
    if (name in raw) out[name] = decodeValue(kind, raw[name]);
  }
  out.__dozer_record_id = raw.__dozer_record_id;
  out.__dozer_record_version = raw.__dozer_record_version;
  return out;
}

/** JSON with `bigint`s as strings of digits (the API takes those for integer fields). */
function encodeJson(value) {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
}

const ORDER = { asc: "asc", desc: "desc" };

function queryBody(options) {
  const body = {};
  if (options.filter !== undefined) body.$filter = options.filter;
  if (options.orderBy !== undefined) {
    const order = {};
    for (const [field, direction] of Object.entries(options.orderBy)) {
      if (!(direction in ORDER)) {
        throw new TypeError(`orderBy.${field}: expected "asc" or "desc", got ${String(direction)}`);
      }
      order[field] = direction;
    }
    body.$order_by = order;
  }
  if (options.limit !== undefined) body.$limit = options.limit;
  if (options.skip !== undefined) body.$skip = options.skip;
  if (options.after !== undefined) body.$after = options.after;
  return body;
}

/** How many answers the client keeps to revalidate by `ETag` (`If-None-Match`). */
const CACHE_ENTRIES = 256;

/** The connection to one app: base URL, token, the `fetch` to use, and the read cache. */
export class Transport {
  constructor(options) {
    const url = options.url;
    this.url = url.endsWith("/") ? url.slice(0, -1) : url;
    this.token = options.token;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = options.headers ?? {};
    this.cache = options.cache === false ? null : new Map();
    this.retryDelayMs = options.retryDelayMs ?? 1000;
  }

  requestHeaders(extra) {
    const headers = { ...this.headers, "x-dozer-int64": "string", ...extra };
    const token = typeof this.token === "function" ? this.token() : this.token;
    if (token) headers.authorization = `Bearer ${token}`;
    return headers;
  }

  /** One read: JSON in, JSON out, revalidated from the cache by ETag when it holds the answer.
   * Returns `{ etag, value, fresh }`; `fresh` is false when the server answered 304. */
  async read(method, path, body, signal, decode) {
    const text = body === undefined ? undefined : encodeJson(body);
    const headers = this.requestHeaders({});
    // The token is part of the key: answers differ by what a token may see.
    const cacheKey = `${headers.authorization ?? ""} ${method} ${path} ${text ?? ""}`;
    const cached = this.cache?.get(cacheKey);
    const extra = { accept: "application/json" };
    if (text !== undefined) extra["content-type"] = "application/json";
    if (cached) extra["if-none-match"] = cached.etag;
    let response;
    try {
      response = await this.fetch(this.url + path, {
        method,
        headers: { ...headers, ...extra },
        body: text,
        signal,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ConnectionError(`cannot reach ${this.url}: ${e?.message ?? e}`, e);
    }
    if (response.status === 304 && cached) {
      this.remember(cacheKey, cached);
      return { etag: cached.etag, value: cached.value, fresh: false };
    }
    const answer = await response.text();
    let json;
    try {
      json = answer === "" ? null : JSON.parse(answer);
    } catch {
      json = { error: answer };
    }
    if (!response.ok) throw errorOf(response.status, json);
    const value = decode(json);
    const etag = response.headers.get("etag");
    if (etag && this.cache) this.remember(cacheKey, { etag, value });
    return { etag, value, fresh: true };
  }

  remember(key, entry) {
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value);
  }
}

/** One endpoint of the app; `index.js` makes one per endpoint with its field list. */
export class Endpoint {
  constructor(transport, spec) {
    this.transport = transport;
    this.name = spec.name;
    this.path = spec.path;
    this.fields = spec.fields;
    this.keyKind = spec.key;
  }

  decodeRecord(raw) {
    return decodeRecord(this.fields, raw);
  }

  /** The record with this primary key (or record id, for an endpoint without a key). */
  async get(key, options = {}) {
    if (this.keyKind === null) {
      throw new TypeError(
        `${this.name}: records are not read by key here (a composite or empty key); use query()`,
      );
    }
    const path = `${this.path}/${encodeURIComponent(String(key))}`;
    const { value } = await this.transport.read("GET", path, undefined, options.signal, (j) =>
      this.decodeRecord(j),
    );
    return value;
  }

  /** Records matching `filter`, sorted by `orderBy`, paged by `limit`/`skip` or `after`. */
  async query(options = {}) {
    return (await this.queryWithEtag(options)).records;
  }

  /** `query()` with the answer's ETag, and whether it changed since the last same query
   * (`fresh: false`: the server answered 304 and these are the records it answered before). */
  async queryWithEtag(options = {}) {
    const { etag, value, fresh } = await this.transport.read(
      "POST",
      `${this.path}/query`,
      queryBody(options),
      options.signal,
      (j) => j.map((r) => this.decodeRecord(r)),
    );
    return { etag, records: value, fresh };
  }

  /** How many records match `filter` (all records without one). */
  async count(filter, options = {}) {
    const body = filter === undefined ? {} : { $filter: filter };
    const { value } = await this.transport.read(
      "POST",
      `${this.path}/count`,
      body,
      options.signal,
      (j) => j,
    );
    return value;
  }

  /** The endpoint's live changes. Resolves once the server has accepted the subscription (so
   * every change committed after that arrives), or rejects with the server's error. */
  async subscribe(options = {}) {
    const subscription = new Subscription(this, options);
    await subscription.connect();
    return subscription;
  }
}

const EVENT_TYPES = new Set(["ALL", "INSERT_ONLY", "UPDATE_ONLY", "DELETE_ONLY"]);

/** A live change stream: an async iterator of change events, in position order, each once. A
 * dropped connection is reopened from the last position seen (`Last-Event-ID`). */
export class Subscription {
  constructor(endpoint, options) {
    if (options.types !== undefined && !EVENT_TYPES.has(options.types)) {
      throw new TypeError(
        `types: expected ALL, INSERT_ONLY, UPDATE_ONLY or DELETE_ONLY, got ${String(options.types)}`,
      );
    }
    this.endpoint = endpoint;
    this.options = options;
    /** The position of the last event delivered (or the one the stream started after). */
    this.position = options.resumeAfter ?? null;
    this.controller = new AbortController();
    this.closed = false;
    this.reader = null;
    this.buffer = "";
    this.pending = [];
    this.frame = { id: null, event: null, data: [] };
    if (options.signal) {
      if (options.signal.aborted) this.close();
      else options.signal.addEventListener("abort", () => this.close(), { once: true });
    }
  }

  url() {
    const params = new URLSearchParams();
    if (this.options.types !== undefined) params.set("type", this.options.types);
    if (this.options.filter !== undefined) params.set("filter", encodeJson(this.options.filter));
    const query = params.toString();
    return `${this.endpoint.transport.url}${this.endpoint.path}/events${query ? `?${query}` : ""}`;
  }

  async connect() {
    const transport = this.endpoint.transport;
    const extra = { accept: "text/event-stream" };
    if (this.position !== null) extra["last-event-id"] = String(this.position);
    let response;
    try {
      response = await transport.fetch(this.url(), {
        headers: transport.requestHeaders(extra),
        signal: this.controller.signal,
      });
    } catch (e) {
      if (this.closed) return;
      throw new ConnectionError(`cannot reach ${transport.url}: ${e?.message ?? e}`, e);
    }
    if (!response.ok) {
      const text = await response.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = { error: text };
      }
      throw errorOf(response.status, json);
    }
    this.reader = response.body.getReader();
    this.decoder = new TextDecoder();
    this.buffer = "";
    this.frame = { id: null, event: null, data: [] };
    // The stream opens with the position it follows from: known from here on, so a stream
    // dropped before its first change still resumes exactly where it began.
    while (this.position === null && this.pending.length === 0) {
      const chunk = await this.reader.read();
      if (chunk.done) return;
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      this.parse();
    }
  }

  /** Stops the stream; a pending `next()` ends the iteration. */
  close() {
    this.closed = true;
    this.controller.abort();
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async return() {
    this.close();
    return { done: true, value: undefined };
  }

  async next() {
    for (;;) {
      if (this.pending.length > 0) return { done: false, value: this.pending.shift() };
      if (this.closed) return { done: true, value: undefined };
      let chunk;
      try {
        chunk = await this.reader.read();
      } catch (e) {
        if (this.closed) return { done: true, value: undefined };
        chunk = { done: true, error: e };
      }
      if (chunk.done) {
        if (this.closed) return { done: true, value: undefined };
        await this.reconnect();
        continue;
      }
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      this.parse();
    }
  }

  /** Reopens the stream from the last position, waiting between attempts while the server is
   * unreachable; an HTTP refusal (e.g. 410, the position is past the retention) ends it. */
  async reconnect() {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, this.endpoint.transport.retryDelayMs));
      if (this.closed) return;
      try {
        await this.connect();
        return;
      } catch (e) {
        if (!(e instanceof ConnectionError) && !(e instanceof UnavailableError)) {
          this.closed = true;
          throw e;
        }
      }
    }
  }

  parse() {
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end < 0) return;
      // A `\r` at the end of what has arrived may be the first half of `\r\n`: wait for more.
      if (end === this.buffer.length - 1 && this.buffer[end] === "\r") return;
      const line = this.buffer.slice(0, end);
      const width = this.buffer.startsWith("\r\n", end) ? 2 : 1;
      this.buffer = this.buffer.slice(end + width);
      if (line === "") {
        this.dispatch();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "id") this.frame.id = value;
      else if (field === "event") this.frame.event = value;
      else if (field === "data") this.frame.data.push(value);
    }
  }

  dispatch() {
    const { id, event, data } = this.frame;
    this.frame = { id: null, event: null, data: [] };
    if (id !== null && id !== "") this.position = Number(id);
    if (data.length === 0) return;
    const json = JSON.parse(data.join("\n"));
    if (event === "error") {
      this.closed = true;
      this.controller.abort();
      throw errorOf(json.status, json);
    }
    this.pending.push({
      position: json.position,
      type: json.type,
      endpoint: json.endpoint,
      old: this.endpoint.decodeRecord(json.old),
      new: this.endpoint.decodeRecord(json.new),
    });
  }
}
