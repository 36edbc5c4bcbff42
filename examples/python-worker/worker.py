#!/usr/bin/python3
"""A Taskcast worker in Python with pika, written from docs/worker-protocol.md (worker protocol v1).

Runs the task type `resize` (simulated), one task at a time: the same behaviour as examples/php-worker, shorter.
"""
import json
import os
import signal
import socket
import sys
import time
import uuid
from datetime import datetime, timezone

import pika
import pika.exceptions


def env_int(name, default, lo, hi):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        sys.exit(f"worker.py: {name} must be an integer from {lo} to {hi}, not {raw!r}")
    return int(raw)


AMQP_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672").split(",")[0]
EVENTS = os.environ.get("TASK_QUEUE", "tasks") + ".events"  # announcements and reports (declared by Taskcast)
QUEUE = os.environ.get("WORKER_QUEUE", "images")  # our queue (declared by Taskcast once we announce it)
PREFETCH = env_int("WORKER_PREFETCH", 1, 1, 1000)
VERDICT_TIMEOUT_S = env_int("VERDICT_TIMEOUT_MS", 30_000, 100, 600_000) / 1000
HOST = socket.gethostname()
WORKER_ID = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
RESIZE = {"name": "resize", "description": "Resizes an image (simulated): one progress report per step",
          "example": {"width": 640, "height": 480, "steps": 4}}


def log(level, msg, **fields):
    print(json.dumps({"time": datetime.now(timezone.utc).isoformat(), "level": level, "worker": WORKER_ID, "msg": msg, **fields}), flush=True)


class BadPayload(Exception):
    """A payload the task can never run with: reported `failed` (final), not `error` (retried)."""


def resize(payload, attempt, progress, idle):
    def num(key, default, lo, hi):
        value = payload.get(key, default) if isinstance(payload, dict) else default
        if type(value) is not int or not lo <= value <= hi:
            raise BadPayload(f"payload.{key} must be an integer from {lo} to {hi}")
        return value
    width, height = num("width", None, 1, 20_000), num("height", None, 1, 20_000)
    steps, step_ms = num("steps", 4, 1, 100), num("stepMs", 250, 0, 600_000)
    if attempt <= num("transientFailures", 0, 0, 100):
        raise RuntimeError(f"simulated transient failure on attempt {attempt}")
    for step in range(1, steps + 1):
        idle(step_ms / 1000)
        progress(step / steps)
    return {"width": width, "height": height, "bytes": width * height * 3}


class Worker:
    def __init__(self):
        self.conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()  # every publish waits for RabbitMQ's confirm (raises if refused)
        self.buffer = []  # [delivery, not_before]
        self.verdicts = {}
        self.announced_at = 0.0
        self.running = 0  # 1 while a delivery taken from the buffer is being handled
        self.stopping = False

    def publish(self, body, **props):
        self.ch.basic_publish("", EVENTS, json.dumps(body).encode(),
                              pika.BasicProperties(delivery_mode=2, content_type="application/json", **props))

    def announce(self):
        self.publish({"kind": "worker", "v": 1, "worker": WORKER_ID, "queue": QUEUE, "types": [RESIZE],
                      "concurrency": 1, "inflight": len(self.buffer) + self.running, "language": "python", "host": HOST})
        self.announced_at = time.monotonic()

    def idle(self, seconds):
        """Waits while announcing every 3 s and taking in deliveries and verdicts."""
        until = time.monotonic() + seconds
        while True:
            if time.monotonic() - self.announced_at >= 3:
                self.announce()
            left = until - time.monotonic()
            if left <= 0:
                return
            self.conn.process_data_events(time_limit=min(0.2, left))

    def wait_for_queue(self):
        """Passive declare on a fresh channel every 0.5 s (a miss closes the channel) until Taskcast has declared our queue."""
        said = 0.0
        while True:
            probe = self.conn.channel()
            try:
                probe.queue_declare(QUEUE, passive=True)
                probe.close()
                return
            except pika.exceptions.ChannelClosedByBroker as e:
                if e.reply_code != 404:
                    raise
            if time.monotonic() - said >= 10:
                log("info", "waiting for Taskcast to declare the queue (is a Taskcast web node running with the same TASK_QUEUE?)", queue=QUEUE)
                said = time.monotonic()
            self.idle(0.5)

    def run(self):
        self.ch.basic_consume("amq.rabbitmq.reply-to", auto_ack=True,
                              on_message_callback=lambda _ch, _m, props, body: self.verdicts.__setitem__(props.correlation_id, json.loads(body)))
        self.announce()  # first: Taskcast declares our queue when it hears of it; never declare it ourselves
        self.wait_for_queue()
        self.ch.basic_qos(prefetch_count=PREFETCH)
        self.ch.basic_consume(QUEUE, on_message_callback=lambda _ch, method, props, body: self.buffer.append([(method, props, body), 0.0]))
        log("info", "consuming tasks", queue=QUEUE, events=EVENTS)
        while not self.stopping:
            ready = next((b for b in self.buffer if b[1] <= time.monotonic()), None)
            if ready:
                self.buffer.remove(ready)
                self.running = 1
                self.handle(*ready[0])
                self.running = 0
            else:
                self.idle(0.5)
        for (method, _, _), _ in self.buffer:
            self.ch.basic_nack(method.delivery_tag, requeue=True)
        self.conn.close()
        log("info", "stopped")

    def handle(self, method, props, body):
        tag = method.delivery_tag
        try:
            task = json.loads(body)
            assert isinstance(task.get("id"), str) and isinstance(task.get("type"), str)
        except Exception:
            log("warn", "not a task message; rejecting it")
            return self.ch.basic_reject(tag, requeue=False)  # to <TASK_QUEUE>.dead
        report = {"kind": "task", "v": 1, "id": task["id"], "worker": WORKER_ID}
        if props.headers and "x-taskcast-run" in props.headers:
            report["run"] = int(props.headers["x-taskcast-run"])
        if props.reply_to:
            report["reply_to"] = props.reply_to
        if props.correlation_id:
            report["correlation_id"] = props.correlation_id

        # 1. Ask Taskcast whether to run it.
        cid = uuid.uuid4().hex
        # `redelivered`: RabbitMQ took this task back from a worker that died; Taskcast then lets this one take it over.
        self.publish({**report, "status": "running", "redelivered": bool(method.redelivered)}, reply_to="amq.rabbitmq.reply-to", correlation_id=cid)
        deadline = time.monotonic() + VERDICT_TIMEOUT_S
        while cid not in self.verdicts and time.monotonic() < deadline:
            self.idle(0.05)
        verdict = self.verdicts.pop(cid, None)
        if verdict is None:
            log("warn", "no verdict from Taskcast; putting the task back and pausing", taskId=task["id"])
            self.ch.basic_nack(tag, requeue=True)
            return self.idle(5)
        if not verdict["run"]:
            if verdict.get("status") == "paused":
                # An operator paused our queue: put the task back and wait before taking the next delivery.
                self.ch.basic_nack(tag, requeue=True)
                return self.idle(1)
            if verdict.get("status") in ("running", "stalled"):
                # Another worker holds it and Taskcast does not yet know that it is gone: keep it, ask again soon.
                self.buffer.append([(method, props, body), time.monotonic() + 2])
                return
            log("info", "skipping the task", taskId=task["id"], status=verdict.get("status"))
            return self.ch.basic_ack(tag)

        # 2. Run it, reporting progress.
        attempt = verdict.get("attempt", 1)
        # Every later report names its attempt: a late copy of it can then never touch a later attempt.
        report["attempt"] = attempt
        log("info", "running the task", taskId=task["id"], type=task["type"], attempt=attempt)
        try:
            if task["type"] != "resize":
                raise BadPayload(f"this worker runs resize tasks, not {task['type']}")
            result = resize(task.get("payload"), attempt, lambda p: self.publish({**report, "status": "running", "progress": p}), self.idle)
            final = {**report, "status": "succeeded", "result": result}
        except BadPayload as e:
            final = {**report, "status": "failed", "error": str(e)}
        except Exception as e:
            final = {**report, "status": "error", "error": str(e) or type(e).__name__}

        # 3. The final report, confirmed (publish returns once RabbitMQ confirmed it), then the ack.
        try:
            self.publish(final)
        except (pika.exceptions.NackError, pika.exceptions.UnroutableError):
            log("warn", "RabbitMQ refused the final report; putting the task back", taskId=task["id"])
            return self.ch.basic_nack(tag, requeue=True)
        self.ch.basic_ack(tag)
        log("info", "task reported", taskId=task["id"], status=final["status"])


if __name__ == "__main__":
    worker = Worker()

    def stop(*_):
        worker.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
