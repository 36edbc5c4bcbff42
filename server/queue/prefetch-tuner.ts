// A worker's prefetch when WORKER_PREFETCH is unset: sized to what its tasks take. A delivery holds a handler slot
// for its claim and handler; after that it is still held (its outcome stored, then acked) and RabbitMQ's next
// delivery is on its way, a few ms under load. With short tasks those ms are most of a credit's cycle, so the slots
// sit idle unless the worker holds several deliveries per slot (measured: at concurrency 16, echo tasks ran about a
// fifth faster at a prefetch of 128 than at 32; at concurrency 1, a third faster at 8 than at 2, and a third to a
// half faster again at 32 to 64 than at 8). With long tasks every credit beyond the slots is a task waiting in this
// worker that an idle worker could run. So the prefetch goes from twice the concurrency (at rest, or long tasks) up
// to TOP_PER_SLOT times it, and at least MIN_TOP (tasks well under a millisecond), and the extra deliveries held stay
// under EXTRA_HELD_BYTES of message bodies. When it shrinks and the deliveries still waiting for a slot hold more than
// HAND_BACK_AFTER_MS of work, they go back to the queue (see TaskConsumer.tune), so long tasks that follow short ones
// do not wait behind each other in one worker.

import type { SlotWindow } from "./slots";

/**
 * A delivery's time held outside its slot, plus RabbitMQ's turnaround for the next one, under load (ms): with slots
 * of about a millisecond or less the prefetch reaches its top (echo tasks, which hold their slot only for the
 * handler while the prefetch is raised).
 */
const OUT_OF_SLOT_MS = 8;
/** Message bodies held beyond twice the concurrency, at most. */
const EXTRA_HELD_BYTES = 16 * 1024 * 1024;
/**
 * The top of the range per handler slot. At concurrency 16, with echo tasks over AMQP, a worker with a top of 16 per
 * slot (256) spent 0.912 of the CPU per task of one with 8 (128), both consuming one queue at once (median of 8
 * rounds, 0.866–0.982; bench/worker-pair.ts), and the whole stack ran about 7 % more tasks a second in alternated
 * runs (probably because more deliveries arrive, are claimed, stored and acked together each turn; not measured).
 */
const TOP_PER_SLOT = 16;
/**
 * The top of the range at any concurrency: at concurrency 1, echo tasks over AMQP ran 2,129–2,732 a second with a
 * top of 8, 2,579–3,429 with 16, 3,127–3,577 with 32 and 3,262–4,646 with 64 (alternated runs of 20,000).
 */
const MIN_TOP = 64;
/**
 * Work waiting in a worker (deliveries waiting for a slot, at the last window's slot time, spread over the slots)
 * beyond which a smaller prefetch hands them back to the queue: less is not worth their requeue and redelivery.
 */
const HAND_BACK_AFTER_MS = 250;
/** The largest prefetch Taskcast sets, sized or configured (WORKER_PREFETCH's bound). */
export const MAX_PREFETCH = 2000;
/**
 * Below this share of one slot busy over a window, and fewer deliveries a second than this, the worker counts as
 * idle (deliveries claimed before their slot spend only their handler in it: tiny tasks use little slot time)…
 */
const IDLE_SLOT_SHARE = 0.25;
const IDLE_RELEASES_PER_S = 20;
/** …and after this many idle windows in a row (a second each: an idle window is never cut short) its prefetch goes back to twice the concurrency. */
const IDLE_WINDOWS = 5;

export class PrefetchTuner {
  /** Twice the concurrency: the prefetch at rest, and with long tasks. */
  readonly min: number;
  readonly max: number;
  private bytes = 0;
  private deliveries = 0;
  private idleWindows = 0;
  /** What a delivery held its slot for over the last window (ms). */
  private slotMs = 0;

  constructor(private readonly concurrency: number) {
    this.min = Math.min(2 * concurrency, MAX_PREFETCH);
    this.max = Math.min(Math.max(TOP_PER_SLOT * concurrency, MIN_TOP), MAX_PREFETCH);
  }

  /** A delivery arrived with a body of `bytes`. */
  delivered(bytes: number): void {
    this.bytes += bytes;
    this.deliveries++;
  }

  /** The prefetch the last window asks for, or undefined to keep `current`; starts a new window. */
  next(current: number, window: SlotWindow): number | undefined {
    const meanBytes = this.deliveries > 0 ? this.bytes / this.deliveries : 0;
    this.slotMs = window.busyMs / Math.max(window.released, 1);
    this.bytes = 0;
    this.deliveries = 0;
    const idle = window.busyMs < window.ms * IDLE_SLOT_SHARE && window.released < (window.ms / 1000) * IDLE_RELEASES_PER_S;
    this.idleWindows = idle ? this.idleWindows + 1 : 0;
    // A pause between bursts keeps the prefetch; a worker idle for a while meets long tasks with the smallest one.
    if (idle && this.idleWindows < IDLE_WINDOWS) return undefined;
    const target = idle ? this.min : this.target(meanBytes);
    if (target === current) return undefined;
    // Small moves are not worth a new consumer; reaching either bound is.
    const small = Math.abs(target - current) < current / 4;
    return small && target !== this.min && target !== this.max ? undefined : target;
  }

  /**
   * Whether `waiting` deliveries waiting for a slot are worth handing back to the queue as the prefetch shrinks: at
   * the last window's slot time they would keep this worker busy for more than HAND_BACK_AFTER_MS.
   */
  worthHandingBack(waiting: number): boolean {
    return (waiting * this.slotMs) / this.concurrency > HAND_BACK_AFTER_MS;
  }

  private target(meanBytes: number): number {
    const wanted = Math.round(this.min * (1 + OUT_OF_SLOT_MS / Math.max(this.slotMs, 0.01)));
    const byMemory = meanBytes > 0 ? this.min + Math.floor(EXTRA_HELD_BYTES / meanBytes) : this.max;
    return Math.max(this.min, Math.min(wanted, byMemory, this.max));
  }
}
