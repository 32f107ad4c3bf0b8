// Compiles: equality on a json field, and every other field's conditions in the typed app.
import { createClient, type DescriptionsRecord, type JsonValue } from "typed-client";

const api = createClient({ url: "http://localhost:8080" });
export const rows: Promise<DescriptionsRecord[]> = api.descriptions.query({
  filter: { info: { $eq: { a: 1 } }, StockCode: { $matches_any: ["CAKE"] }, Quantity: { $lte: 10n } },
  orderBy: { Quantity: "desc" },
});
export const info = (r: DescriptionsRecord): JsonValue => r.info;
export const one = api.descriptions.get(1);
