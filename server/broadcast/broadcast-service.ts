// Sending broadcasts from the web node (HTTP API and dashboard): validate, then append to the log.
import { DEFAULT_BROADCAST_CHANNEL, SendBroadcastSchema, type Broadcast, type BroadcastSource } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { invalidInput, tooLarge, unavailable } from "../errors";
import type { BroadcastLog } from "./broadcast-log";

export class BroadcastService {
  constructor(
    private readonly log: BroadcastLog,
    private readonly maxBytes: number,
  ) {}

  async send(input: unknown, source: BroadcastSource): Promise<Broadcast> {
    const parsed = SendBroadcastSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid broadcast: ${describeZodError(parsed.error)}. Send {"message": "non-empty text", "channel"?: "name"}.`);
    const { message, channel = DEFAULT_BROADCAST_CHANNEL } = parsed.data;
    const bytes = Buffer.byteLength(message);
    if (bytes > this.maxBytes) throw tooLarge(`The message is ${bytes} bytes; a broadcast may be at most ${this.maxBytes} bytes.`);
    try {
      return await this.log.append(message, channel, source);
    } catch (err) {
      throw unavailable("Redis is not reachable, so the broadcast was not sent. Try again.", err);
    }
  }
}
