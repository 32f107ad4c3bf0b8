// Types of the React hooks over the app's TypeScript SDK. Written by dozerc.
import type { Endpoint, QueryOptions, RecordMeta } from "ecommerce-client";

type RowOf<E> = E extends Endpoint<infer Row, any, any, any> ? Row : never;
type FilterOf<E> = E extends Endpoint<any, infer Filter, any, any> ? Filter : never;
type OrderableOf<E> = E extends Endpoint<any, any, infer O, any> ? O : never;

export interface UseQueryOptions<Filter, Orderable extends string>
  extends Omit<QueryOptions<Filter, Orderable>, "signal"> {
  /** Refetch when the endpoint changes (default: true). */
  live?: boolean;
}

export interface QueryState<Row> {
  /** `undefined` until the first answer. */
  records: Row[] | undefined;
  error: unknown;
  loading: boolean;
  /** Reads again now (revalidating by ETag). */
  refetch(): void;
}

export interface LiveState<Row> {
  /** `undefined` until the first read. */
  records: Row[] | undefined;
  error: unknown;
  /** The position of the last change applied. */
  position: number | null;
}

/** The endpoint's query, refetched (by ETag) whenever the endpoint changes. */
export function useQuery<E extends Endpoint<RecordMeta, any, any, any>>(
  endpoint: E,
  options?: UseQueryOptions<FilterOf<E>, OrderableOf<E>>,
): QueryState<RowOf<E>>;

/** The endpoint's records matching `filter`, kept current from its change stream. */
export function useLive<E extends Endpoint<RecordMeta, any, any, any>>(
  endpoint: E,
  options?: Omit<QueryOptions<FilterOf<E>, OrderableOf<E>>, "signal">,
): LiveState<RowOf<E>>;
