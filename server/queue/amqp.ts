// A RabbitMQ connection that recovers by itself, and channels that are re-created when they close.
import { connect, type Channel, type ChannelModel, type RecoveringChannelModel } from "amqplib";
import type { Writable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { withDeadline } from "../deadline";
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

/** How long a connection attempt may take to open, and then to set up, before the next node is tried. */
const CONNECT_TIMEOUT_MS = 10_000;
const SETUP_TIMEOUT_MS = 30_000;


export async function connectAmqp(options: {
  /** One URL, or a cluster's nodes: each (re)connection tries the next after one that failed or was lost. */
  url: string | readonly string[];
  name: string;
  log: Logger;
  /** Runs after every (re)connection, before the connection counts as up: declare topology, start consumers. */
  setup: (model: ChannelModel) => Promise<void>;
}): Promise<AmqpConnection> {
  const { log } = options;
  const urls = typeof options.url === "string" ? [options.url] : [...options.url];
  // amqplib reads the endpoint's fields on every connection attempt: moving it to the next node is a failover.
  let index = 0;
  const target = endpoint(urls[0]);
  const next = () => {
    if (urls.length < 2) return;
    index = (index + 1) % urls.length;
    Object.assign(target, endpoint(urls[index]));
  };
  const url = urls.map(maskUrl).join(", ");
  let current: ChannelModel | undefined;
  let closing: Promise<void> | undefined;
  const model = await connect(target, {
    clientProperties: { connection_name: options.name },
    // Without it Nagle's algorithm holds small frames (a publish, its confirm, an ack) for the peer's delayed
    // ACK: tens of milliseconds on every request that waits for a confirm.
    noDelay: true,
    keepAlive: true,
    // A node that accepts the TCP connection but never finishes the handshake (busy, or half gone) is given
    // up on, so recovery moves to the next node instead of waiting forever.
    timeout: CONNECT_TIMEOUT_MS,
    recovery: {
      initialDelay: 200,
      maxDelay: 5000,
      waitForConnect: false,
      setup: async (m: ChannelModel) => {
        autoCork((m as unknown as { connection: { stream: Writable } }).connection.stream);
        // The same for declaring queues and consumers on a node that does not answer (a quorum queue without a leader).
        await withDeadline(options.setup(m), SETUP_TIMEOUT_MS, () => new Error(`RabbitMQ did not finish setting up the connection within ${SETUP_TIMEOUT_MS / 1000} s`));
        current = m;
      },
    },
  });
  model.on("connect", () => log.info({ rabbitmq: maskUrl(urls[index]) }, "RabbitMQ connected"));
  model.on("disconnect", (err: Error) => {
    current = undefined;
    next();
    log.warn({ err: err.message, next: maskUrl(urls[index]) }, "RabbitMQ connection lost; reconnecting");
  });
  let lastFailure = "";
  model.on("connect-failed", (err: Error) => {
    if (err.message !== lastFailure) log.warn({ rabbitmq: maskUrl(urls[index]), err: err.message }, "RabbitMQ connection attempt failed; retrying");
    lastFailure = err.message;
    next();
  });
  model.on("error", (err: Error) => log.warn({ err: err.message }, "RabbitMQ connection error"));
  model.on("blocked", (reason: string) => log.warn({ reason }, "RabbitMQ blocked the connection"));

  // Wait a while for the first connection so a wrong URL is reported at start, then keep trying in the background.
  const first = await Promise.race([model.waitForConnect().then(() => true), delay(FIRST_CONNECT_WAIT_MS, false, { ref: false })]);
  if (!first) log.error(`RabbitMQ is not reachable at ${url} — start it with \`npm start\` or set RABBITMQ_URL. Still retrying.`);

  return {
    model,
    isUp: () => current !== undefined,
    current() {
      // The address is for the logs: clients learn what to do, not where the broker is.
      if (!current) throw unavailable("RabbitMQ is not reachable — start it with `npm start` or check RABBITMQ_URL; Taskcast reconnects by itself.", `no connection to ${url}`);
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
/** amqplib's connection fields for a URL, with a 15 s heartbeat unless the URL sets one. */
function endpoint(raw: string) {
  const url = new URL(raw);
  const query = (name: string) => (url.searchParams.has(name) ? Number(url.searchParams.get(name)) : undefined);
  return {
    protocol: url.protocol.replace(/:$/, ""),
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : undefined,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    vhost: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : "/",
    heartbeat: query("heartbeat") ?? 15,
    frameMax: query("frameMax"),
    channelMax: query("channelMax"),
    locale: url.searchParams.get("locale") ?? undefined,
  };
}

/** A channel that refused a message is replaced at most this often. */
const REPLACE_AT_MOST_EVERY_MS = 1000;
/** A replaced channel closes this long after, once the confirms it still waits for have come or timed out. */
const CLOSE_REPLACED_AFTER_MS = 15_000;

/**
 * Holds one channel on the current connection and opens a fresh one when it closes
 * (a channel error, or a new connection after recovery), or when it refused a message (`replace`).
 */
export class ChannelSlot<C extends Channel> {
  private channel?: { model: ChannelModel; promise: Promise<C>; openedAt: number; opened?: C; refused?: boolean };

  constructor(
    private readonly amqp: () => AmqpConnection,
    private readonly open: (model: ChannelModel) => Promise<C>,
    private readonly log: Logger,
  ) {}

  /** The channel on `model` (default: the current connection), opening it if needed. */
  get(model: ChannelModel = this.amqp().current()): Promise<C> {
    const held = this.channel;
    if (held?.model === model) {
      if (!held.refused || Date.now() - held.openedAt < REPLACE_AT_MOST_EVERY_MS) return held.promise;
      this.log.info("RabbitMQ refused a message on this channel: publishing on a fresh one from now on");
      // Closed later, so the confirms still due on it can come.
      setTimeout(() => held.opened?.close().catch(() => undefined), CLOSE_REPLACED_AFTER_MS).unref();
    }
    const promise = this.open(model).then((ch) => {
      ch.on("error", (err: Error) => this.log.warn({ err: err.message }, "RabbitMQ channel error"));
      ch.on("close", () => {
        if (this.channel?.promise === promise) this.channel = undefined;
      });
      if (this.channel?.promise === promise) this.channel.opened = ch;
      return ch;
    });
    promise.catch(() => {
      if (this.channel?.promise === promise) this.channel = undefined;
    });
    this.channel = { model, promise, openedAt: Date.now() };
    return promise;
  }

  /**
   * Marks `channel` as one RabbitMQ refused a message on: `get` replaces it with a fresh one (at most once a
   * second). On RabbitMQ 3.10 a channel that published to a quorum queue while the queue had no leader (its
   * leader's node had just died) has every later message to that queue refused, even once a new leader is
   * elected, while a new channel publishes at once.
   */
  refused(channel: C): void {
    if (this.channel?.opened === channel) this.channel.refused = true;
  }
}
