// A fixed number of slots shared by whoever needs one: a worker's handlers (WORKER_CONCURRENCY), a publisher's
// messages awaiting RabbitMQ's confirm.

/**
 * A delivery's claim on one of the worker's handler slots. The consumer takes it before handing the delivery
 * over; the handler gives it back as soon as no task code can run any more (its outcome is then stored and
 * acknowledged while the next delivery starts), and takes it again should it have to run the task again.
 */
export interface SlotLease {
  /**
   * The delivery may be read and claimed before its slot is held (the consumer hands it over without one): its
   * worker's tasks are short, so it waits a few ms at most, and the claim's round trip overlaps the running tasks.
   */
  readonly claimFirst?: boolean;
  /** Holds a slot, waiting for one if none is free; false if the wait was cancelled (the worker is stopping). */
  hold(): Promise<boolean>;
  /** Holds a slot now if one is free (true), without waiting; false: call `hold`. */
  tryHold?(): boolean;
  /** Gives the slot back; does nothing if it is not held. */
  release(): void;
}

/** What the slots did over one window (see Slots.usage). */
export interface SlotWindow {
  /** Length of the window (ms). */
  ms: number;
  /** Slot time used: the sum over slots of the time each was held (ms). */
  busyMs: number;
  /** Slots given back (a delivery's claim and handler ended). */
  released: number;
}

/**
 * At most `size` holders at once; the rest wait in arrival order. `cancelWaiting` lets every waiter go without
 * a slot (shutdown).
 */
export class Slots {
  private taken = 0;
  private readonly waiting: Array<(granted: boolean) => void> = [];
  /** Slot time used since `windowStart` (the last `usage`; ms), counted up to `countedAt`, and the slots given back meanwhile. */
  private busyMs = 0;
  private countedAt = performance.now();
  private windowStart = this.countedAt;
  private released = 0;

  constructor(private readonly size: number) {}

  /** Resolves true once a slot is held (give it back with `release`), false if waiting was cancelled. */
  acquire(): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Takes a slot if one is free now (give it back with `release`); false if none is. */
  tryAcquire(): boolean {
    if (this.taken >= this.size) return false;
    this.count();
    this.taken++;
    return true;
  }

  get busy(): number {
    return this.taken;
  }

  /** Holders waiting for a slot. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  release(): void {
    this.released++;
    const next = this.waiting.shift();
    if (next) next(true); // the slot passes straight to the next waiter
    else {
      this.count();
      this.taken--;
    }
  }

  /** How long since the last `usage` (ms), and the slots given back meanwhile. */
  peek(): { ms: number; released: number } {
    return { ms: performance.now() - this.windowStart, released: this.released };
  }

  /** Slot time used (ms) and slots given back since the last call, over `ms`. */
  usage(): SlotWindow {
    this.count();
    const window = { ms: this.countedAt - this.windowStart, busyMs: this.busyMs, released: this.released };
    this.windowStart = this.countedAt;
    this.busyMs = 0;
    this.released = 0;
    return window;
  }

  private count(): void {
    const now = performance.now();
    this.busyMs += this.taken * (now - this.countedAt);
    this.countedAt = now;
  }

  /** Lets every waiter go without a slot; answers how many there were. */
  cancelWaiting(): number {
    const waiters = this.waiting.splice(0);
    for (const waiter of waiters) waiter(false);
    return waiters.length;
  }

  /** A lease that holds at most one slot at a time. */
  lease(): SlotLease {
    return new Lease(this);
  }
}

/**
 * A lease that holds at most one of `slots` at a time. A class, not closures: a busy worker makes one per delivery
 * and keeps it until the delivery is acknowledged, so what it allocates outlives young-generation collections.
 */
export class Lease implements SlotLease {
  private held = false;

  constructor(private readonly slots: Slots) {}

  async hold(): Promise<boolean> {
    return this.held || (this.held = await this.slots.acquire());
  }

  tryHold(): boolean {
    return this.held || (this.held = this.slots.tryAcquire());
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.slots.release();
  }
}
