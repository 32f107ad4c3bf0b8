// Types of the generic part of a dozerc TypeScript SDK (see client.js). Written by dozerc.

/** A JSON value, as `json` fields hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON value that is not an object: the bare form of an equality filter on a `json` field. */
export type JsonScalar = null | boolean | number | string | JsonValue[];

/** A length of time as the API writes it (`value` is a whole number of `time_unit`s). */
export interface Duration {
  value: string;
  time_unit: "Nanoseconds" | "Milliseconds";
}

/** Every record carries its id (stable while the record lives) and its version (1 for a new
 * record, one more on each update). */
export interface RecordMeta {
  readonly __dozer_record_id: number;
  readonly __dozer_record_version: number;
}

/** Conditions every filterable field takes. A bare value (or `null`) means `$eq`. */
export interface EqualityOps<T> {
  $eq?: T | null;
  $ne?: T | null;
  $in?: readonly T[];
}
/** Conditions of ordered fields (numbers, strings, times): equality and comparisons. */
export interface OrderedOps<T> extends EqualityOps<T> {
  $lt?: T;
  $lte?: T;
  $gt?: T;
  $gte?: T;
}
/** Conditions of string fields: ordered ones and the text ones. */
export interface StringOps extends OrderedOps<string> {
  /** The value contains this substring. */
  $contains?: string;
  /** The value contains any of these words. */
  $matches_any?: readonly string[];
  /** The value contains all of these words. */
  $matches_all?: readonly string[];
}
/** The condition on a field that takes equality only (`json`). */
export type EqualityCondition<T, Bare = T> = Bare | null | EqualityOps<T>;
/** The condition on an ordered field. */
export type OrderedCondition<T> = T | null | OrderedOps<T>;
/** The condition on a string field. */
export type StringCondition = string | null | StringOps;

/** The sort order of one field. */
export type Direction = "asc" | "desc";

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface QueryOptions<Filter, Orderable extends string> extends RequestOptions {
  filter?: Filter;
  /** Fields in priority order, each ascending or descending. */
  orderBy?: { [F in Orderable]?: Direction };
  /** At most this many records (the app's default limit when absent). */
  limit?: number;
  /** Skip this many records first. */
  skip?: number;
  /** Only records after this record id (keyset paging: the last `__dozer_record_id` seen). */
  after?: number;
}

export type EventType = "INSERT" | "UPDATE" | "DELETE";
/** Which changes a subscription receives. */
export type EventTypes = "ALL" | "INSERT_ONLY" | "UPDATE_ONLY" | "DELETE_ONLY";

/** One change of an endpoint. `new` is the record after the change (for `DELETE`, the deleted
 * record); `old` is the record before an `UPDATE` (else `null`). */
export interface ChangeEvent<Row> {
  position: number;
  type: EventType;
  endpoint: string;
  old: Row | null;
  new: Row;
}

export interface SubscribeOptions<Filter> {
  filter?: Filter;
  types?: EventTypes;
  /** Start after this position (the `position` of the last event a previous stream gave). */
  resumeAfter?: number;
  /** Aborting it ends the stream. */
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** The app's REST API, e.g. `http://localhost:8080`. */
  url: string;
  /** A JWT (or a function returning the current one), sent as `Authorization: Bearer`. */
  token?: string | (() => string | undefined);
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
  /** Keep answers and revalidate them by ETag (default: true). */
  cache?: boolean;
  /** The pause before reopening a dropped change stream, in milliseconds (default 1000). */
  retryDelayMs?: number;
}

export class DozerError extends Error {
  /** The HTTP status (0: no answer). */
  readonly status: number;
  /** The server's answer, `{"error": message}`. */
  readonly body: unknown;
  constructor(status: number, message: string, body: unknown);
}
export class BadRequestError extends DozerError {}
export class UnauthorizedError extends DozerError {}
export class ForbiddenError extends DozerError {}
export class NotFoundError extends DozerError {}
export class GoneError extends DozerError {}
export class UnprocessableError extends DozerError {}
export class UnavailableError extends DozerError {}
export class ConnectionError extends DozerError {
  constructor(message: string, cause?: unknown);
}

export class Transport {
  constructor(options: ClientOptions);
  readonly url: string;
}

/** A query's records with the answer's ETag; `fresh: false` when they are unchanged since the
 * same query was last answered. */
export interface QueryAnswer<Row> {
  records: Row[];
  etag: string | null;
  fresh: boolean;
}

/** An endpoint: `Row` its records, `Filter` its filters, `Orderable` the fields it sorts by,
 * `Key` the type of its key (`never` when records are not read by key). */
export class Endpoint<Row extends RecordMeta, Filter, Orderable extends string, Key> {
  constructor(transport: Transport, spec: unknown);
  readonly name: string;
  readonly path: string;
  /** The record with this key; rejects with `NotFoundError` when there is none. */
  get(key: Key, options?: RequestOptions): Promise<Row>;
  query(options?: QueryOptions<Filter, Orderable>): Promise<Row[]>;
  queryWithEtag(options?: QueryOptions<Filter, Orderable>): Promise<QueryAnswer<Row>>;
  count(filter?: Filter, options?: RequestOptions): Promise<number>;
  subscribe(options?: SubscribeOptions<Filter>): Promise<Subscription<Row>>;
}

export class Subscription<Row> implements AsyncIterableIterator<ChangeEvent<Row>> {
  /** The position of the last event received (or the one the stream started after). */
  readonly position: number | null;
  close(): void;
  next(): Promise<IteratorResult<ChangeEvent<Row>, undefined>>;
  return(): Promise<IteratorResult<ChangeEvent<Row>, undefined>>;
  [Symbol.asyncIterator](): AsyncIterableIterator<ChangeEvent<Row>>;
}
