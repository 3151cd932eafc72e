// `bazaar client`: sessions that look up a random stock and, with probability p, trade it; every
// order placed is fetched back at the end and compared with what the client sent.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { ClientTls } from '../tls/client.ts';
import {
  CLIENT_ERROR_SAMPLES_MAX,
  CLIENT_RETRY_DELAY_MS_MAX,
  CLIENT_RETRY_DELAY_MS_MIN,
  UPSTREAM_KEEP_ALIVE_MS,
  CLIENT_ATTEMPTS_MAX,
  UPSTREAM_REQUEST_TIMEOUT_MS,
} from '../core/limits.ts';
import type { OrderView, TradeType } from '../core/trade.ts';
import { seededRandom, skewedPicker } from './random.ts';
import type { ClientReport, LatencySummary, RequestKind } from '../protocol/report.ts';
import { summarize } from './stats.ts';

export interface ClientOptions {
  /** One frontend's origin, or several: sessions are spread over them, and a retry goes to the next. */
  readonly frontend: string | readonly string[];
  /** Whom to trust for https frontends (`--ca`): this CA instead of the system's. */
  readonly tls?: ClientTls | undefined;
  readonly p: number;
  readonly iterations: number;
  readonly clients: number;
  readonly seed: number;
  readonly stocks: readonly string[];
  /** Zipf exponent of the choice of stock (the first stock the most popular); 0 or undefined is uniform. */
  readonly skew?: number;
  /** Where progress lines go (a TTY gets a self-overwriting line); undefined for none. */
  readonly progress?: NodeJS.WriteStream | undefined;
  /** Ends the sessions early (before their iterations are done); every order placed is still verified. */
  readonly signal?: AbortSignal;
}

export type { ClientReport, RequestKind } from '../protocol/report.ts';


interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterS: number | undefined;
}

export async function run(options: ClientOptions): Promise<ClientReport> {
  const frontends = typeof options.frontend === 'string' ? [options.frontend] : [...options.frontend];
  if (frontends.length === 0) throw new Error('no frontend to drive');
  const pools = frontends.map((url) => new Pool(url, { connections: Math.max(1, Math.ceil(options.clients / frontends.length)), pipelining: 1, keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS, ...(options.tls === undefined ? {} : { connect: options.tls }) }));
  const runId = randomBytes(6).toString('hex');
  const samples: Record<RequestKind, number[]> = { lookup: [], trade: [], order_query: [] };
  const placed: OrderView[] = [];
  const errorSamples: string[] = [];
  const mismatchSamples: string[] = [];
  const errorsByKind: Record<RequestKind, number> = { lookup: 0, trade: 0, order_query: 0 };
  let errors = 0;
  let mismatches = 0;
  let rejected = 0;
  let retries = 0;
  let done = 0;

  const fail = (kind: RequestKind, message: string): void => {
    errors += 1;
    errorsByKind[kind] += 1;
    if (errorSamples.length < CLIENT_ERROR_SAMPLES_MAX) errorSamples.push(message);
  };
  const mismatch = (message: string): void => {
    mismatches += 1;
    if (mismatchSamples.length < CLIENT_ERROR_SAMPLES_MAX) mismatchSamples.push(message);
  };

  const request = async (via: number, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const reply = await pools[via % pools.length]!.request({
      method,
      path,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: UPSTREAM_REQUEST_TIMEOUT_MS * 5,
      bodyTimeout: UPSTREAM_REQUEST_TIMEOUT_MS * 5,
    });
    const text = await reply.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    const retryAfter = Number(reply.headers['retry-after']);
    return { status: reply.statusCode, body: parsed, retryAfterS: Number.isFinite(retryAfter) ? retryAfter : undefined };
  };

  const describe = (reply: Reply): string => `${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`;

  /**
   * Sends a request through frontend `home`, and again while the service answers 503 or the
   * connection fails (a frontend crashing and coming back, a failover): lookups and order queries
   * are reads, and a trade carries its idempotency key, so a repeat never trades twice. With several
   * frontends, each repeat goes to the next one, at once after a failed connection (that frontend
   * may be gone). Returns the first other answer.
   */
  const send = async (home: number, method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply> => {
    let last = 'no attempt';
    for (let attempt = 1; attempt <= CLIENT_ATTEMPTS_MAX; attempt += 1) {
      let delayMs = CLIENT_RETRY_DELAY_MS_MIN * 2 ** (attempt - 1);
      try {
        const reply = await request(home + attempt - 1, method, path, body, headers);
        if (reply.status !== 503) return reply;
        last = describe(reply);
        if (reply.retryAfterS !== undefined) delayMs = reply.retryAfterS * 1000;
      } catch (error) {
        last = (error as Error).message;
        if (frontends.length > 1) delayMs = 0;
      }
      if (attempt < CLIENT_ATTEMPTS_MAX) {
        retries += 1;
        if (delayMs > 0) await sleep(Math.min(delayMs, CLIENT_RETRY_DELAY_MS_MAX));
      }
    }
    throw new Error(`no answer after ${CLIENT_ATTEMPTS_MAX} attempts: ${last}`);
  };

  const lookup = async (home: number, name: string): Promise<void> => {
    const startedAt = performance.now();
    try {
      const reply = await send(home, 'GET', `/stocks/${encodeURIComponent(name)}`);
      const data = (reply.body as { data?: { name?: unknown } }).data;
      if (reply.status !== 200 || data?.name !== name) fail('lookup', `lookup ${name}: ${describe(reply)}`);
      else samples.lookup.push(performance.now() - startedAt);
    } catch (error) {
      fail('lookup', `lookup ${name}: ${(error as Error).message}`);
    }
  };

  const trade = async (home: number, name: string, type: TradeType, quantity: number, key: string): Promise<void> => {
    const startedAt = performance.now();
    try {
      const reply = await send(home, 'POST', '/orders', { name, type, quantity }, { 'idempotency-key': key });
      const ms = performance.now() - startedAt;
      if (reply.status === 409) {
        rejected += 1;
        return;
      }
      const number = (reply.body as { data?: { transaction_number?: unknown } }).data?.transaction_number;
      if (reply.status !== 200 || typeof number !== 'number' || !Number.isInteger(number) || number < 0) {
        fail('trade', `trade ${key} (${type} ${quantity} ${name}): ${describe(reply)}`);
        return;
      }
      samples.trade.push(ms);
      placed.push({ number, name, type, quantity });
    } catch (error) {
      fail('trade', `trade ${key} (${type} ${quantity} ${name}): ${(error as Error).message}`);
    }
  };

  const session = async (index: number): Promise<void> => {
    const random = seededRandom((options.seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0);
    for (let iteration = 0; iteration < options.iterations && options.signal?.aborted !== true; iteration += 1) {
      const name = pickStock(random);
      await lookup(index, name);
      if (random.next() < options.p) {
        const type: TradeType = random.next() < 0.5 ? 'buy' : 'sell';
        await trade(index, name, type, random.int(1, 5), `client-${runId}-${index}-${iteration}`);
      }
      done += 1;
    }
  };

  const pickStock = skewedPicker(options.stocks, options.skew ?? 0);
  const total = options.iterations * options.clients;
  const startedAt = performance.now();
  const progress = options.progress;
  const showProgress = (): void => {
    const line = `client: ${done}/${total} iterations, ${placed.length} orders, ${errors} errors`;
    if (progress?.isTTY === true) progress.write(`\r${line}`);
    else progress?.write(`${line}\n`);
  };
  const ticker = progress === undefined ? undefined : setInterval(showProgress, progress.isTTY === true ? 500 : 5_000);
  try {
    await Promise.all(Array.from({ length: options.clients }, (_, index) => session(index)));

    // Verification: fetch every order placed and compare it with what was sent.
    const seen = new Set<number>();
    for (const order of placed) {
      if (seen.has(order.number)) mismatch(`transaction number ${order.number} was given to two different orders`);
      seen.add(order.number);
    }
    let next = 0;
    const verifier = async (home: number): Promise<void> => {
      while (next < placed.length) {
        const expected = placed[next]!;
        next += 1;
        const queryStartedAt = performance.now();
        try {
          const reply = await send(home, 'GET', `/orders/${expected.number}`);
          if (reply.status === 200) samples.order_query.push(performance.now() - queryStartedAt);
          const data = (reply.body as { data?: Partial<OrderView> }).data;
          if (reply.status !== 200) {
            mismatch(`order ${expected.number}: ${describe(reply)}`);
          } else if (data?.number !== expected.number || data.name !== expected.name || data.type !== expected.type || data.quantity !== expected.quantity) {
            mismatch(`order ${expected.number}: sent ${JSON.stringify(expected)}, server has ${JSON.stringify(data)}`);
          }
        } catch (error) {
          fail('order_query', `order query ${expected.number}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: options.clients }, (_, index) => verifier(index)));
  } finally {
    if (ticker !== undefined) {
      clearInterval(ticker);
      showProgress();
      if (progress?.isTTY === true) progress.write('\n');
    }
    await Promise.all(pools.map((pool) => pool.close()));
  }

  return {
    frontend: frontends.join(','),
    seed: options.seed,
    p: options.p,
    skew: options.skew ?? 0,
    iterations: options.iterations,
    clients: options.clients,
    duration_s: Math.round(performance.now() - startedAt) / 1000,
    latency: { lookup: summarize(samples.lookup), trade: summarize(samples.trade), order_query: summarize(samples.order_query) },
    orders_placed: placed.length,
    trades_rejected: rejected,
    retries,
    errors,
    errors_by_kind: errorsByKind,
    error_samples: errorSamples,
    mismatches,
    mismatch_samples: mismatchSamples,
    ok: errors === 0 && mismatches === 0,
  };
}

export function formatReport(report: ClientReport): string {
  const header = ['request', 'count', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean ms'];
  // Latency counts successful requests only (failures are the errors below); a kind with none shows –.
  const rows = (Object.entries(report.latency) as Array<[RequestKind, LatencySummary]>).map(([kind, s]) => [
    kind,
    String(s.count),
    ...[s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.mean_ms].map((value) => (value === null ? '–' : value.toFixed(2))),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  const lines = [
    `client: ${report.clients} sessions x ${report.iterations} iterations, p=${report.p}${report.skew === 0 ? '' : `, skew=${report.skew}`}, seed=${report.seed}, ${report.duration_s}s against ${report.frontend}`,
    line(header),
    ...rows.map(line),
    `orders placed: ${report.orders_placed}, rejected for lack of stock: ${report.trades_rejected}, retried: ${report.retries}, errors: ${report.errors}${report.errors === 0 ? '' : ` (lookup ${report.errors_by_kind.lookup}, trade ${report.errors_by_kind.trade}, order query ${report.errors_by_kind.order_query})`}, mismatches: ${report.mismatches}`,
    ...report.error_samples.map((sample) => `  error: ${sample}`),
    ...report.mismatch_samples.map((sample) => `  mismatch: ${sample}`),
    report.ok ? 'verification: passed (every order placed reads back as sent)' : 'verification: FAILED',
  ];
  return `${lines.join('\n')}\n`;
}

export async function writeReport(file: string, report: ClientReport): Promise<void> {
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
}
