// Must not compile: `Land` is no field of sales_by_country.
import { createClient } from "ecommerce-client";

const api = createClient({ url: "http://localhost:8080" });
export const rows = api.sales_by_country.query({ filter: { Land: "France" } });
