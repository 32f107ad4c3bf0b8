// Must not compile: the API does not sort by a json field.
import { createClient } from "typed-client";

const api = createClient({ url: "http://localhost:8080" });
export const rows = api.descriptions.query({ orderBy: { info: "asc" } });
