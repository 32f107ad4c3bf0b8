// The TypeScript SDK of the e-commerce example against the running app, driven by tests/sdk.rs:
// reads by key, queries, counts, then follows the change stream while the test appends files
// and restarts the app. Prints one JSON line per step; reads the test's cues from stdin.
import * as readline from "node:readline";

import {
  BadRequestError,
  createClient,
  NotFoundError,
  type ChangeEvent,
  type SalesByCountryRecord,
} from "ecommerce-client";

const [url, before, after] = process.argv.slice(2) as [string, string, string];
const api = createClient({ url, retryDelayMs: 200 });
const cues = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function say(step: string, data: Record<string, unknown> = {}): void {
  const text = JSON.stringify({ step, ...data }, (_key, v: unknown) =>
    typeof v === "bigint" ? `${v}n` : v,
  );
  console.log(text);
}

async function cue(word: string): Promise<void> {
  const { value } = await cues.next();
  if (value !== word) throw new Error(`expected the cue ${word}, got ${String(value)}`);
}

// Reads.
const countries = await api.sales_by_country.query({ orderBy: { Country: "asc" } });
const count = await api.sales_by_country.count();
const big = await api.sales_by_country.count({ TotalSales: { $gt: "100" } });
const top = await api.sales_by_country.query({
  filter: { $or: [{ TotalSales: { $gt: "100" } }, { Country: { $contains: "an" } }] },
  orderBy: { TotalSales: "desc" },
  limit: 3,
});
const france = await api.sales_by_country.get("France");
const [customer] = await api.clv.query({ filter: { CustomerID: { $ne: null } }, limit: 1 });
if (customer === undefined || customer.CustomerID === null) throw new Error("no customer");
const byKey = await api.clv.get(customer.CustomerID);
const byNumber = await api.clv.get(Number(customer.CustomerID));
const windows = await api.daily_sales.query({
  filter: { start: { $gte: new Date("2000-01-01T00:00:00Z") } },
  orderBy: { start: "asc" },
  limit: 2,
});
let missing = "";
try {
  await api.sales_by_country.get("Nowhere");
} catch (e) {
  if (e instanceof NotFoundError) missing = `${e.status}: ${e.message}`;
}
let refused = "";
try {
  // Past the type checker on purpose: the server names the offending field.
  await api.sales_by_country.query({ filter: { Land: 1 } as never });
} catch (e) {
  if (e instanceof BadRequestError) refused = `${e.status}: ${e.message}`;
}
say("reads", {
  countries: countries.map((c) => c.Country),
  count,
  big,
  top: top.map((c) => c.Country),
  france: france.TotalSales,
  customer: byKey.CustomerID,
  customerType: typeof byKey.CustomerID,
  sameByNumber: byNumber.__dozer_record_id === byKey.__dozer_record_id,
  lifetimeValue: byKey.LifetimeValue,
  windows: windows.map((w) => [w.start, w.end]),
  missing,
  refused,
});

// Reads are revalidated by ETag: the same query again is a 304, answered from the cache.
const sorted = { orderBy: { Country: "asc" } } as const;
const first = await api.sales_by_country.queryWithEtag(sorted);
const second = await api.sales_by_country.queryWithEtag(sorted);
say("cache", {
  etag: first.etag,
  second: { fresh: second.fresh, sameEtag: second.etag === first.etag, same: second.records === first.records },
});

// The change stream: subscribed before the test appends, followed across an app restart.
const stream = await api.sales_by_country.subscribe();
say("subscribed", { position: stream.position });
await cue("appended");
const seen: ChangeEvent<SalesByCountryRecord>[] = [];
const summary = (e: ChangeEvent<SalesByCountryRecord>) => ({
  position: e.position,
  type: e.type,
  country: e.new.Country,
  version: e.new.__dozer_record_version,
  oldVersion: e.old?.__dozer_record_version ?? null,
});
for await (const e of stream) {
  seen.push(e);
  say("event", summary(e));
  if (seen.length === 4) break;
}
// A new stream resuming after the second event gives the last two again, and nothing else.
const resumed = await api.sales_by_country.subscribe({ resumeAfter: seen[1]!.position });
const again: ChangeEvent<SalesByCountryRecord>[] = [];
for await (const e of resumed) {
  again.push(e);
  if (again.length === 2) break;
}
// Only inserts of the country appended last, by filter and type.
const count2 = await api.sales_by_country.count({ Country: { $in: [before, after] } });
const third = await api.sales_by_country.queryWithEtag(sorted);
say("done", {
  resumed: again.map(summary),
  both: count2,
  afterChange: { fresh: third.fresh, newEtag: third.etag !== first.etag, rows: third.records.length },
});
process.exit(0);
