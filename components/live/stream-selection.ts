// The live streams this tab's mounted components show: each one adds its stream while it is mounted, and the
// union is what the tab's socket follows.
import { LIVE_STREAMS, type LiveStream } from "@/lib/contract";

export class StreamSelection {
  private readonly users = new Map<LiveStream, number>();

  /** Counts one more user of the stream; the returned function releases it (once, however often it is called). */
  add(stream: LiveStream): () => void {
    this.users.set(stream, (this.users.get(stream) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.users.get(stream) ?? 1) - 1;
      if (left > 0) this.users.set(stream, left);
      else this.users.delete(stream);
    };
  }

  /** The streams in use, each once, in LIVE_STREAMS order (so equal sets compare equal). */
  current(): LiveStream[] {
    return LIVE_STREAMS.filter((stream) => this.users.has(stream));
  }
}
