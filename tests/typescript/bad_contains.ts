// Must not compile: `$contains` is for strings, BuyCount is an integer.
import { createClient } from "ecommerce-client";

const api = createClient({ url: "http://localhost:8080" });
export const rows = api.bestsellers.query({ filter: { BuyCount: { $contains: "1" } } });
