// React hooks over the app's TypeScript SDK. Written by dozerc, the same for every app.
import { useCallback, useEffect, useRef, useState } from "react";

/** A stable key of hook options, so an options object written inline does not refetch. */
function keyOf(options) {
  return JSON.stringify(options ?? {}, (_key, v) => (typeof v === "bigint" ? `${v}n` : v));
}

/** `endpoint.query(options)`, refetched whenever the endpoint changes. Each refetch revalidates
 * by ETag, so an answer that did not change costs a 304 and keeps the same `records` array. */
export function useQuery(endpoint, options = {}) {
  const key = keyOf(options);
  const [state, setState] = useState({ records: undefined, error: undefined, loading: true });
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const refetchRef = useRef(() => {});

  useEffect(() => {
    const controller = new AbortController();
    let running = false;
    let again = false;
    const fetchNow = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const { records, fresh } = await endpoint.queryWithEtag({
            ...optionsRef.current,
            signal: controller.signal,
          });
          if (controller.signal.aborted) return;
          setState((s) =>
            fresh || s.records === undefined
              ? { records, error: undefined, loading: false }
              : { ...s, error: undefined, loading: false },
          );
        } while (again && !controller.signal.aborted);
      } catch (error) {
        if (!controller.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
      } finally {
        running = false;
      }
    };
    refetchRef.current = fetchNow;
    let subscription;
    (async () => {
      if (optionsRef.current.live !== false) {
        try {
          subscription = await endpoint.subscribe({ signal: controller.signal });
        } catch (error) {
          if (!controller.signal.aborted) setState((s) => ({ ...s, error }));
        }
      }
      await fetchNow();
      if (!subscription) return;
      try {
        for await (const _change of subscription) void fetchNow();
      } catch (error) {
        if (!controller.signal.aborted) setState((s) => ({ ...s, error }));
      }
    })();
    return () => {
      controller.abort();
      subscription?.close();
    };
  }, [endpoint, key]);

  const refetch = useCallback(() => refetchRef.current(), []);
  return { ...state, refetch };
}

/** The endpoint's records kept current from its change stream: it subscribes first, then reads
 * the records matching `options.filter`, then applies every change (by record id and version,
 * so a change the read already reflects is not applied twice). */
export function useLive(endpoint, options = {}) {
  const key = keyOf(options);
  const [state, setState] = useState({ records: undefined, error: undefined, position: null });
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const controller = new AbortController();
    const rows = new Map();
    let subscription;
    const publish = (position) =>
      setState({ records: [...rows.values()], error: undefined, position });
    const apply = (change) => {
      const id = change.new.__dozer_record_id;
      if (change.type === "DELETE") {
        rows.delete(id);
        return;
      }
      const held = rows.get(id);
      if (held && held.__dozer_record_version >= change.new.__dozer_record_version) return;
      rows.set(id, change.new);
    };
    (async () => {
      const { filter } = optionsRef.current;
      try {
        subscription = await endpoint.subscribe({ filter, signal: controller.signal });
        const records = await endpoint.query({ ...optionsRef.current, signal: controller.signal });
        for (const r of records) rows.set(r.__dozer_record_id, r);
        publish(subscription.position);
        for await (const change of subscription) {
          apply(change);
          publish(change.position);
        }
      } catch (error) {
        if (!controller.signal.aborted) setState((s) => ({ ...s, error }));
      }
    })();
    return () => {
      controller.abort();
      subscription?.close();
    };
  }, [endpoint, key]);

  return state;
}
