// The TypeScript SDK's change stream parser on what other servers and proxies send: CRLF line
// breaks split across writes (a `\r` at the end of one, its `\n` at the start of the next),
// data over several lines, comments, and an opening frame with an id and no data. Served by
// node's own HTTP server.
import { createServer } from "node:http";

import { Endpoint, Transport } from "ecommerce-client";

const record = (country, version) =>
  JSON.stringify({ Country: country, TotalSales: "1.00", __dozer_record_id: 1, __dozer_record_version: version });
const writes = [
  "id: 7\r",
  "\n\r\n: keep-alive\r\n\r",
  "\nid: 8\r",
  `\ndata: {"position":8,"type":"INSERT","endpoint":"e","old":null,"new":${record("A", 1)}}\r\n\r`,
  // One event's data on two `data:` lines (joined by a line feed), split after a `\r`.
  `\nid: 9\r\ndata: {"position":9,"type":"UPDATE","endpoint":"e",\r`,
  `\ndata: "old":${record("A", 1)},"new":${record("A", 2)}}\r\n\r\n`,
];
const server = createServer(async (_request, response) => {
  response.writeHead(200, { "content-type": "text/event-stream" });
  for (const w of writes) {
    response.write(w);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}`;
const endpoint = new Endpoint(new Transport({ url }), {
  name: "e",
  path: "/e",
  key: "string",
  fields: [["Country", "string"], ["TotalSales", "decimal"]],
});
const stream = await endpoint.subscribe();
const opened = stream.position;
const seen = [];
for await (const e of stream) {
  seen.push([e.position, e.type, e.new.__dozer_record_version, stream.position]);
  if (seen.length === 2) break;
}
server.close();
console.log(JSON.stringify({ opened, seen }));
process.exit(0);
