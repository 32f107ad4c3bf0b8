// The React hooks of the e-commerce example against the running app, rendered with React's test
// renderer, driven by tests/sdk.rs: `useLive` and `useQuery` follow a file the test appends.
import * as readline from "node:readline";

import { createElement, type ReactElement } from "react";
import { act, create } from "react-test-renderer";

import { createClient } from "ecommerce-client";
import { useLive, useQuery } from "ecommerce-react";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

const [url, country] = process.argv.slice(2) as [string, string];
const api = createClient({ url, retryDelayMs: 200 });
const cues = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

let live: string[] | undefined;
let queried: string[] | undefined;
let liveError: unknown;

function Countries(): ReactElement {
  const state = useLive(api.sales_by_country);
  live = state.records?.map((r) => `${r.Country}:${r.TotalSales}`).sort();
  liveError = state.error;
  const top = useQuery(api.sales_by_country, {
    filter: { Country: { $in: [country, "France"] } },
    orderBy: { Country: "asc" },
  });
  queried = top.records?.map((r) => `${r.Country}:${r.TotalSales}`);
  return createElement("p", null, `${live?.length ?? "-"} ${queried?.length ?? "-"}`);
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ok()) {
    if (liveError) throw liveError;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let renderer: ReturnType<typeof create> | undefined;
act(() => {
  renderer = create(createElement(Countries));
});
await until("the first answers", () => live !== undefined && queried !== undefined);
console.log(JSON.stringify({ step: "rendered", live, queried }));
await cue("appended");
await until(`${country} in both hooks`, () =>
  Boolean(live?.some((c) => c.startsWith(`${country}:`)) && queried?.some((c) => c.startsWith(`${country}:`))),
);
// Both hooks settle on the same values as a fresh read.
const fresh = (await api.sales_by_country.query({ limit: 10000 })).map((r) => `${r.Country}:${r.TotalSales}`).sort();
await until("useLive to equal a fresh read", () => JSON.stringify(live) === JSON.stringify(fresh));
console.log(JSON.stringify({ step: "done", live, queried, fresh }));
act(() => renderer!.unmount());
process.exit(0);

async function cue(word: string): Promise<void> {
  const { value } = await cues.next();
  if (value !== word) throw new Error(`expected the cue ${word}, got ${String(value)}`);
}
