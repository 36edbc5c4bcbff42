<?php
// A Taskcast worker in PHP, written from docs/worker-protocol.md (worker protocol v1) with php-amqplib.
// It runs one task type, `resize` (simulated), one task at a time; run several processes for more.
declare(strict_types=1);

require_once getenv('PHP_AMQPLIB_AUTOLOAD') ?: '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Channel\AMQPChannel;
use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Exception\AMQPProtocolChannelException;
use PhpAmqpLib\Exception\AMQPTimeoutException;
use PhpAmqpLib\Message\AMQPMessage;

/** A payload the task can never run with: reported `failed` (final), not `error` (retried). */
final class BadPayload extends RuntimeException {}

// ---- Configuration, from the environment ----------------------------------------------------------------

function fail_config(string $message): never
{
    fwrite(STDERR, "worker.php: $message\n");
    exit(2);
}

function env_int(string $name, int $default, int $min, int $max): int
{
    $raw = getenv($name);
    if ($raw === false || $raw === '') return $default;
    if (!preg_match('/^\d+$/', $raw) || (int)$raw < $min || (int)$raw > $max) fail_config("$name must be an integer from $min to $max, not \"$raw\"");
    return (int)$raw;
}

// The same variables as Taskcast's own processes; RABBITMQ_URL may list cluster nodes, comma-separated (the first is used).
$amqpUrl = explode(',', getenv('RABBITMQ_URL') ?: 'amqp://guest:guest@127.0.0.1:5672')[0];
$url = parse_url($amqpUrl);
if ($url === false || ($url['scheme'] ?? '') !== 'amqp') fail_config('RABBITMQ_URL must look like amqp://user:password@host:5672/vhost');
$taskQueue = getenv('TASK_QUEUE') ?: 'tasks';
$config = [
    'events' => "$taskQueue.events",          // announcements and reports go here (declared by Taskcast)
    'queue' => getenv('WORKER_QUEUE') ?: 'images', // the queue this worker consumes (declared by Taskcast once announced)
    'prefetch' => env_int('WORKER_PREFETCH', 1, 1, 1000), // deliveries held at once; they run one after another
    'verdictTimeout' => env_int('VERDICT_TIMEOUT_MS', 30_000, 100, 600_000) / 1000,
];
$host = gethostname() ?: 'unknown';
$workerId = sprintf('%s:%d:%s', $host, getmypid(), bin2hex(random_bytes(3)));

function log_line(string $level, string $msg, array $fields = []): void
{
    global $workerId;
    echo json_encode(['time' => gmdate('c'), 'level' => $level, 'worker' => $workerId, 'msg' => $msg] + $fields, JSON_UNESCAPED_SLASHES), "\n";
}

// ---- The task handler: `resize`, simulated ------------------------------------------------------------------

const RESIZE_TYPE = [
    'name' => 'resize',
    'description' => 'Resizes an image (simulated): one progress report per step',
    'example' => ['width' => 640, 'height' => 480, 'steps' => 4],
];

/**
 * Checks the payload, then "resizes" in `steps` steps of `stepMs` each, reporting progress after each step.
 * `transientFailures`: the first that many attempts fail with a transient error (for trying retries).
 */
function resize(mixed $payload, int $attempt, callable $progress, callable $idle): array
{
    $int = function (string $key, ?int $default, int $min, int $max) use ($payload): int {
        $value = is_array($payload) && array_key_exists($key, $payload) ? $payload[$key] : $default;
        if (!is_int($value) || $value < $min || $value > $max) throw new BadPayload("payload.$key must be an integer from $min to $max");
        return $value;
    };
    $width = $int('width', null, 1, 20_000);
    $height = $int('height', null, 1, 20_000);
    $steps = $int('steps', 4, 1, 100);
    $stepMs = $int('stepMs', 250, 0, 600_000);
    if ($attempt <= $int('transientFailures', 0, 0, 100)) throw new RuntimeException("simulated transient failure on attempt $attempt");
    for ($step = 1; $step <= $steps; $step++) {
        $idle($stepMs / 1000);
        $progress($step / $steps);
    }
    return ['width' => $width, 'height' => $height, 'bytes' => $width * $height * 3];
}

// ---- The worker ---------------------------------------------------------------------------------------------

final class Worker
{
    private AMQPChannel $ch;
    /** @var list<array{AMQPMessage, float}> deliveries waiting here, each with the time before which it waits */
    private array $buffer = [];
    private int $inflight = 0;
    /** @var array<string, array> verdicts by correlation id */
    private array $verdicts = [];
    /** @var array<int, true> publishes RabbitMQ refused (nack), by object id */
    private array $nacked = [];
    private float $announcedAt = 0;
    private bool $stopping = false;

    public function __construct(private AMQPStreamConnection $conn, private array $config, private string $id, private string $host)
    {
    }

    public function run(): void
    {
        $this->ch = $this->conn->channel();
        $this->ch->confirm_select();
        $this->ch->set_nack_handler(function (AMQPMessage $m) { $this->nacked[spl_object_id($m)] = true; });
        // Direct reply-to: Taskcast's verdicts on our `running` reports arrive on this channel.
        $this->ch->basic_consume('amq.rabbitmq.reply-to', '', false, true, false, false, function (AMQPMessage $m) {
            $this->verdicts[(string)$m->get('correlation_id')] = json_decode($m->getBody(), true);
        });
        // Announce first: Taskcast declares our queue when it hears of it. Never declare it ourselves.
        $this->announce();
        if (!$this->waitForQueue()) {
            $this->close();
            return;
        }
        $this->ch->basic_qos(0, $this->config['prefetch'], false);
        $this->ch->basic_consume($this->config['queue'], '', false, false, false, false, function (AMQPMessage $m) {
            $this->buffer[] = [$m, 0.0];
            $this->inflight++;
        });
        log_line('info', 'consuming tasks', ['queue' => $this->config['queue'], 'events' => $this->config['events']]);

        while (!$this->stopping) {
            $this->tick();
            $next = $this->takeReady();
            if ($next !== null) $this->handle($next);
            else $this->waitFor(0.5);
        }
        $this->close();
    }

    /** SIGTERM: the running task finishes, the deliveries not started go back to the queue. */
    public function stop(): void
    {
        if ($this->stopping) return;
        $this->stopping = true;
        log_line('info', 'stopping after the current task');
    }

    private function close(): void
    {
        foreach ($this->buffer as [$m]) $this->settle($m, 'requeue');
        $this->buffer = [];
        $this->ch->close();
        $this->conn->close();
        log_line('info', 'stopped');
    }

    /** Waits until Taskcast has declared our queue: a passive declare, on a fresh channel each time (a miss closes it). */
    private function waitForQueue(): bool
    {
        $since = microtime(true);
        $said = 0.0;
        while (!$this->stopping) {
            $probe = $this->conn->channel();
            try {
                $probe->queue_declare($this->config['queue'], true);
                $probe->close();
                return true;
            } catch (AMQPProtocolChannelException $e) {
                if ($e->getCode() !== 404) throw $e;
            }
            if (microtime(true) - $said >= 10) {
                log_line('info', 'waiting for Taskcast to declare the queue (is a Taskcast web node running with the same TASK_QUEUE?)', ['queue' => $this->config['queue'], 'waitedS' => (int)(microtime(true) - $since)]);
                $said = microtime(true);
            }
            $this->idle(0.5);
        }
        return false;
    }

    private function handle(AMQPMessage $m): void
    {
        $task = json_decode($m->getBody(), true);
        if (!is_array($task) || !is_string($task['id'] ?? null) || !is_string($task['type'] ?? null)) {
            // Not a task message at all: rejected without requeue, RabbitMQ moves it to <TASK_QUEUE>.dead.
            log_line('warn', 'not a task message; rejecting it', ['body' => substr($m->getBody(), 0, 100)]);
            $this->settle($m, 'reject');
            return;
        }
        $report = ['kind' => 'task', 'v' => 1, 'id' => $task['id'], 'worker' => $this->id];
        $headers = $m->has('application_headers') ? $m->get('application_headers')->getNativeData() : [];
        if (isset($headers['x-taskcast-run'])) $report['run'] = (int)$headers['x-taskcast-run'];
        foreach (['reply_to', 'correlation_id'] as $p) if ($m->has($p)) $report[$p] = (string)$m->get($p);

        // 1. Ask Taskcast whether to run it.
        // `redelivered`: RabbitMQ took this task back from a worker that died; Taskcast then lets this one take it over.
        $verdict = $this->askVerdict($report, (bool)$m->isRedelivered());
        if ($verdict === null) {
            log_line('warn', 'no verdict from Taskcast; putting the task back and pausing', ['taskId' => $task['id']]);
            $this->settle($m, 'requeue');
            $this->idle(5);
            return;
        }
        if (!$verdict['run']) {
            if (($verdict['status'] ?? '') === 'paused') {
                // An operator paused our queue: put the task back and wait before taking the next delivery.
                $this->settle($m, 'requeue');
                $this->idle(1);
                return;
            }
            if (in_array($verdict['status'] ?? '', ['running', 'stalled'], true)) {
                // Another worker holds it and Taskcast does not yet know that it is gone: keep it, ask again soon.
                $this->buffer[] = [$m, microtime(true) + 2];
                return;
            }
            log_line('info', 'skipping the task', ['taskId' => $task['id'], 'status' => $verdict['status'] ?? null]);
            $this->settle($m, 'ack');
            return;
        }

        // 2. Run it, reporting progress.
        $attempt = (int)($verdict['attempt'] ?? 1);
        // Every later report names its attempt: a late copy of it can then never touch a later attempt.
        $report['attempt'] = $attempt;
        log_line('info', 'running the task', ['taskId' => $task['id'], 'type' => $task['type'], 'attempt' => $attempt]);
        try {
            if ($task['type'] !== 'resize') throw new BadPayload("this worker runs resize tasks, not {$task['type']}");
            $result = resize($task['payload'] ?? null, $attempt, fn (float $p) => $this->publish($report + ['status' => 'running', 'progress' => $p]), fn (float $s) => $this->idle($s));
            $final = $report + ['status' => 'succeeded', 'result' => $result];
        } catch (BadPayload $e) {
            $final = $report + ['status' => 'failed', 'error' => $e->getMessage()];
        } catch (Throwable $e) {
            $final = $report + ['status' => 'error', 'error' => $e->getMessage()];
        }

        // 3. The final report, confirmed by RabbitMQ, before the ack.
        if ($this->publish($final, [], true)) {
            $this->settle($m, 'ack');
            log_line('info', 'task reported', ['taskId' => $task['id'], 'status' => $final['status']]);
        } else {
            log_line('warn', 'RabbitMQ refused the final report; putting the task back', ['taskId' => $task['id']]);
            $this->settle($m, 'requeue');
        }
    }

    /** Publishes `running` asking for the verdict, and waits for it; null when none came in time. */
    private function askVerdict(array $report, bool $redelivered): ?array
    {
        $cid = bin2hex(random_bytes(12));
        $this->publish($report + ['status' => 'running', 'redelivered' => $redelivered], ['reply_to' => 'amq.rabbitmq.reply-to', 'correlation_id' => $cid]);
        $deadline = microtime(true) + $this->config['verdictTimeout'];
        while (!isset($this->verdicts[$cid]) && microtime(true) < $deadline) {
            $this->tick();
            $this->waitFor(min(0.5, max(0.01, $deadline - microtime(true))));
        }
        $verdict = $this->verdicts[$cid] ?? null;
        unset($this->verdicts[$cid]);
        return is_array($verdict) ? $verdict : null;
    }

    /** A persistent message to the events queue; with $confirmed, waits for RabbitMQ's confirm and says whether it was taken. */
    private function publish(array $body, array $props = [], bool $confirmed = false): bool
    {
        $m = new AMQPMessage(json_encode($body, JSON_UNESCAPED_SLASHES), $props + ['delivery_mode' => AMQPMessage::DELIVERY_MODE_PERSISTENT, 'content_type' => 'application/json']);
        $this->ch->basic_publish($m, '', $this->config['events']);
        if (!$confirmed) return true;
        $this->ch->wait_for_pending_acks(10); // a timeout throws: the process ends and RabbitMQ requeues what it held
        return !isset($this->nacked[spl_object_id($m)]);
    }

    private function announce(): void
    {
        $this->publish([
            'kind' => 'worker', 'v' => 1, 'worker' => $this->id, 'queue' => $this->config['queue'],
            'types' => [RESIZE_TYPE], 'concurrency' => 1, 'inflight' => $this->inflight,
            'language' => 'php', 'host' => $this->host,
        ]);
        $this->announcedAt = microtime(true);
    }

    /** Announces every 3 s (the protocol asks for at least every 5 s; 15 s of silence means gone). */
    private function tick(): void
    {
        if (microtime(true) - $this->announcedAt >= 3) $this->announce();
    }

    /** Handles what RabbitMQ sends (deliveries, verdicts, confirms) for up to $seconds. */
    private function waitFor(float $seconds): void
    {
        try {
            $this->ch->wait(null, false, $seconds);
        } catch (AMQPTimeoutException) {
        }
    }

    /** Waits $seconds while still announcing and taking in what RabbitMQ sends. */
    private function idle(float $seconds): void
    {
        $until = microtime(true) + $seconds;
        while (($left = $until - microtime(true)) > 0) {
            $this->tick();
            $this->waitFor(min(0.2, $left));
        }
    }

    /** The first delivery whose wait is over. */
    private function takeReady(): ?AMQPMessage
    {
        $now = microtime(true);
        foreach ($this->buffer as $i => [$m, $notBefore]) {
            if ($notBefore <= $now) {
                array_splice($this->buffer, $i, 1);
                return $m;
            }
        }
        return null;
    }

    private function settle(AMQPMessage $m, string $how): void
    {
        match ($how) {
            'ack' => $m->ack(),
            'requeue' => $m->nack(true),
            'reject' => $m->reject(false),
        };
        $this->inflight--;
    }
}

$conn = new AMQPStreamConnection(
    $url['host'] ?? '127.0.0.1',
    $url['port'] ?? 5672,
    rawurldecode($url['user'] ?? 'guest'),
    rawurldecode($url['pass'] ?? 'guest'),
    isset($url['path']) && $url['path'] !== '/' ? rawurldecode(substr($url['path'], 1)) : '/',
);
$worker = new Worker($conn, $config, $workerId, $host);
pcntl_async_signals(true);
pcntl_signal(SIGTERM, fn () => $worker->stop());
pcntl_signal(SIGINT, fn () => $worker->stop());
$worker->run();
