// A RabbitMQ connection that recovers by itself, and channels that are re-created when they close.
import { connect, type Channel, type ChannelModel, type RecoveringChannelModel } from "amqplib";
import type { Writable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { maskUrl } from "../redact";
import { unavailable } from "../errors";
import type { Logger } from "../logger";

const FIRST_CONNECT_WAIT_MS = 15_000;

export interface AmqpConnection {
  readonly model: RecoveringChannelModel;
  /** True while a connection to the broker is open. */
  isUp(): boolean;
  /** The current connection, or a 503 error that says how to fix it. */
  current(): ChannelModel;
  close(): Promise<void>;
}

export async function connectAmqp(options: {
  url: string;
  name: string;
  log: Logger;
  /** Runs after every (re)connection, before the connection counts as up: declare topology, start consumers. */
  setup: (model: ChannelModel) => Promise<void>;
}): Promise<AmqpConnection> {
  const { url, log } = options;
  let current: ChannelModel | undefined;
  let closing: Promise<void> | undefined;
  const model = await connect(withHeartbeat(url), {
    clientProperties: { connection_name: options.name },
    // Without it Nagle's algorithm holds small frames (a publish, its confirm, an ack) for the peer's delayed
    // ACK: tens of milliseconds on every request that waits for a confirm.
    noDelay: true,
    keepAlive: true,
    recovery: {
      initialDelay: 200,
      maxDelay: 5000,
      waitForConnect: false,
      setup: async (m: ChannelModel) => {
        autoCork((m as unknown as { connection: { stream: Writable } }).connection.stream);
        await options.setup(m);
        current = m;
      },
    },
  });
  model.on("connect", () => log.info({ rabbitmq: maskUrl(url) }, "RabbitMQ connected"));
  model.on("disconnect", (err: Error) => {
    current = undefined;
    log.warn({ err: err.message }, "RabbitMQ connection lost; reconnecting");
  });
  let lastFailure = "";
  model.on("connect-failed", (err: Error) => {
    if (err.message !== lastFailure) log.warn({ rabbitmq: maskUrl(url), err: err.message }, "RabbitMQ connection attempt failed; retrying");
    lastFailure = err.message;
  });
  model.on("error", (err: Error) => log.warn({ err: err.message }, "RabbitMQ connection error"));
  model.on("blocked", (reason: string) => log.warn({ reason }, "RabbitMQ blocked the connection"));

  // Wait a while for the first connection so a wrong URL is reported at start, then keep trying in the background.
  const first = await Promise.race([model.waitForConnect().then(() => true), delay(FIRST_CONNECT_WAIT_MS, false, { ref: false })]);
  if (!first) log.error(`RabbitMQ is not reachable at ${maskUrl(url)} — start it with \`npm start\` or set RABBITMQ_URL. Still retrying.`);

  return {
    model,
    isUp: () => current !== undefined,
    current() {
      if (!current) throw unavailable(`RabbitMQ is not reachable at ${maskUrl(url)} — start it with \`npm start\` or set RABBITMQ_URL; Taskcast reconnects by itself.`);
      return current;
    },
    close() {
      closing ??= model.close().catch((err: Error) => log.warn({ err: err.message }, "closing RabbitMQ connection failed"));
      return closing;
    },
  };
}

/**
 * amqplib writes each frame (a publish, an ack) to the socket on its own: one system call and one TCP
 * packet each, which under load costs more than the work itself. Corking the socket for the rest of the
 * tick sends everything written in one tick with a single write; with TCP_NODELAY it leaves at once.
 */
function autoCork(stream: Writable): void {
  if (typeof stream.cork !== "function") return;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  let corked = false;
  stream.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      stream.cork();
      process.nextTick(() => {
        corked = false;
        stream.uncork();
      });
    }
    return write(...args);
  }) as Writable["write"];
}

/**
 * AMQP heartbeats every 15 s unless the URL sets `heartbeat`: RabbitMQ then notices a frozen or cut-off
 * worker within about 30 s and redelivers its unacknowledged tasks (its own default is 60 s).
 */
function withHeartbeat(raw: string): string {
  const url = new URL(raw);
  if (!url.searchParams.has("heartbeat")) url.searchParams.set("heartbeat", "15");
  return url.toString();
}

/**
 * Holds one channel on the current connection and opens a fresh one when it closes
 * (a channel error, or a new connection after recovery).
 */
export class ChannelSlot<C extends Channel> {
  private channel?: { model: ChannelModel; promise: Promise<C> };

  constructor(
    private readonly amqp: () => AmqpConnection,
    private readonly open: (model: ChannelModel) => Promise<C>,
    private readonly log: Logger,
  ) {}

  /** The channel on `model` (default: the current connection), opening it if needed. */
  get(model: ChannelModel = this.amqp().current()): Promise<C> {
    if (this.channel?.model === model) return this.channel.promise;
    const promise = this.open(model).then((ch) => {
      ch.on("error", (err: Error) => this.log.warn({ err: err.message }, "RabbitMQ channel error"));
      ch.on("close", () => {
        if (this.channel?.promise === promise) this.channel = undefined;
      });
      return ch;
    });
    promise.catch(() => {
      if (this.channel?.promise === promise) this.channel = undefined;
    });
    this.channel = { model, promise };
    return promise;
  }
}
