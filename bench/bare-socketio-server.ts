// The fan-out baseline: a bare Socket.IO server with the Redis adapter that relays every message published on a
// Redis channel to its own connections. Env: PORT, REDIS_URL, BARE_CHANNEL, BARE_KEY. Prints "bare ready".
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { createServer } from "node:http";
import { Server } from "socket.io";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const channel = process.env.BARE_CHANNEL!;
const pub = new Redis(redisUrl);
const sub = new Redis(redisUrl);
const feed = new Redis(redisUrl);
const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { key: process.env.BARE_KEY }), serveClient: false });
// The same fan-out as Taskcast's: the same event and payload shape (id, message, channel, source, at), so both
// put the same bytes on the wire and clients parse the same; only what happens before the emit differs.
let id = 0;
feed.on("message", (_channel: string, message: string) =>
  io.local.emit("broadcast", { id: String(++id), message, channel: "general", source: "redis", at: new Date().toISOString() }),
);
await feed.subscribe(channel);
httpServer.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("bare ready"));
process.on("SIGTERM", () => {
  io.close();
  for (const c of [pub, sub, feed]) c.disconnect();
  process.exit(0);
});
