"use client";
// Queue depth: ready, unacknowledged, consumers and dead letters of TASK_QUEUE, then of each outside worker's queue,
// as pushed by the web node; whether each is paused, with Pause and Resume for operators.
import { useQueuePause } from "@/components/live/use-queue-pause";
import { useScrollTabStop } from "@/components/ui/use-scroll-tab-stop";
import type { QueueDepth, QueueList } from "@/lib/contract";

export function QueuePanel({ list, error }: { list?: QueueList; error?: string }) {
  const [main, ...others] = list?.queues ?? [];
  const items: Array<[string, number | undefined]> = [
    ["Ready", main?.ready],
    ["Unacked", main?.unacked],
    ["Consumers", main?.consumers],
    ["Dead", main?.dead],
  ];
  return (
    <section className="card" aria-labelledby="queue-heading">
      <h2 id="queue-heading">Queue</h2>
      {main && (
        <p className="muted">
          RabbitMQ queue <code>{main.queue}</code>: <PauseState paused={main.paused} testId="queue-state" />{" "}
          <PauseButton queue={main.queue} paused={main.paused} label={(action) => `${action} queue`} />
        </p>
      )}
      <dl className="stats">
        {items.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd data-testid={`queue-${label.toLowerCase()}`}>{value ?? "…"}</dd>
          </div>
        ))}
      </dl>
      {others.length > 0 && <OtherQueues queues={others} deadLetterQueue={main.deadLetterQueue} />}
      {error && !list && <p className="error">{error}</p>}
    </section>
  );
}

/** The outside workers' queues: their dead letters go to TASK_QUEUE's dead-letter queue, counted above. */
function OtherQueues({ queues, deadLetterQueue }: { queues: QueueDepth[]; deadLetterQueue: string }) {
  const [scrollRef, scrollTabIndex] = useScrollTabStop<HTMLDivElement>();
  return (
    <>
      <div className="insights-table-wrap queue-table" ref={scrollRef}>
        <table className="insights-table" tabIndex={scrollTabIndex}>
          <caption className="visually-hidden">Outside workers&apos; queues</caption>
          <thead>
            <tr>
              <th scope="col">Outside workers&apos; queue</th>
              <th scope="col">Ready</th>
              <th scope="col">Unacked</th>
              <th scope="col">Consumers</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {queues.map((q) => (
              <tr key={q.queue}>
                <th scope="row" className="mono">
                  {q.queue}
                  {!q.exists && <span className="muted small"> (not in RabbitMQ yet)</span>}
                </th>
                <td data-label="Ready">{q.ready}</td>
                <td data-label="Unacked">{q.unacked}</td>
                <td data-label="Consumers">{q.consumers}</td>
                <td data-label="State">
                  <PauseState paused={q.paused} /> <PauseButton queue={q.queue} paused={q.paused} label={(action) => `${action} queue ${q.queue}`} visibleText />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted small">
        Their dead letters go to <code>{deadLetterQueue}</code>, counted in Dead above.
      </p>
    </>
  );
}

function PauseState({ paused, testId }: { paused: boolean; testId?: string }) {
  return (
    <strong className={paused ? "queue-paused" : "queue-running"} data-testid={testId}>
      {paused ? "Paused" : "Running"}
    </strong>
  );
}

/** Pause or Resume, for operators only (a viewer sees the state alone); `label` names the button for assistive tech. */
function PauseButton({ queue, paused, label, visibleText = false }: { queue: string; paused: boolean; label: (action: "Pause" | "Resume") => string; visibleText?: boolean }) {
  const { toggle, allowed, pending, error } = useQueuePause(queue, paused);
  if (!allowed) return null;
  const action = paused ? "Resume" : "Pause";
  return (
    <>
      <button type="button" className={`small-button${paused ? "" : " secondary"}`} onClick={() => void toggle()} disabled={pending} aria-label={visibleText ? label(action) : undefined}>
        {visibleText ? action : label(action)}
      </button>
      {error && (
        <span role="alert" className="error">
          {" "}
          {error}
        </span>
      )}
    </>
  );
}
