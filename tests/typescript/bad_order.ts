// Must not compile: `$gt` on a json field, which the API does not order.
import { createClient } from "typed-client";

const api = createClient({ url: "http://localhost:8080" });
export const rows = api.descriptions.query({ filter: { info: { $gt: 1 } } });
