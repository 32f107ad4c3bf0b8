// Must not compile: daily_sales has a composite key (its window), so no `get`.
import { createClient } from "ecommerce-client";

const api = createClient({ url: "http://localhost:8080" });
export const row = api.daily_sales.get("2011-12-09");
