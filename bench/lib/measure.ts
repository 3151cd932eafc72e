// Measurements the evaluation is built from: load with autocannon, the floors (bare node:http, one
// undici hop, a sequential loopback request, append + fdatasync, an lru-cache hit), all in this run.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { LRUCache } from 'lru-cache';
import { Client } from 'undici';
import { percentile } from '../../src/client/stats.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface LoadResult {
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly requests: number;
  readonly errors: number;
  readonly non2xx: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  /** Requests cycled through by each connection; a single GET of `url` when absent. */
  readonly requests?: ReadonlyArray<{ method: 'GET' | 'POST'; path: string; body?: string; headers?: Record<string, string> }>;
  /** Runs after the warm-up, right before the measured run (to read counters the run is compared with). */
  readonly beforeMeasuring?: () => Promise<void>;
}

/** Seconds of discarded load before each measured run: JIT, connection pools and caches warm up. */
export const WARMUP_S = 2;

export async function load(options: LoadOptions): Promise<LoadResult> {
  const common = {
    url: options.url,
    connections: options.connections,
    ...(options.requests === undefined ? {} : { requests: options.requests.map((request) => ({ ...request })) }),
  };
  await autocannon({ ...common, duration: WARMUP_S });
  await options.beforeMeasuring?.();
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    ...(options.requests === undefined ? {} : { requests: options.requests.map((request) => ({ ...request })) }),
  });
  return {
    rps: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    max_ms: result.latency.max,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export interface Floor {
  readonly url: string;
  stop(): Promise<void>;
}

/** A floor server in its own process: `bare` node:http, or `proxy` (one undici hop to `origin`). */
export async function startFloor(mode: 'bare' | 'proxy' | 'bare-tls', origin?: string, keyFile?: string): Promise<Floor> {
  const child: ChildProcess = spawn(process.execPath, [path.join(HERE, 'floor-server.mjs'), mode, ...(origin === undefined ? [] : [origin]), ...(keyFile === undefined ? [] : [keyFile])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(Number(line)));
    child.once('exit', (code) => reject(new Error(`floor server ${mode} exited with ${code}`)));
  });
  return {
    url: `${mode === 'bare-tls' ? 'https' : 'http'}://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Median time of one request at a time on a kept-alive connection (microsecond resolution). */
export async function sequentialLatencyMs(url: string, path: string, count: number): Promise<number> {
  // A TLS floor's certificate is the bench's own: what is measured is the traffic, not the trust.
  const client = new Client(url, url.startsWith('https:') ? { connect: { rejectUnauthorized: false } } : {});
  const samples: number[] = [];
  try {
    for (let index = 0; index < count; index += 1) {
      const startedAt = performance.now();
      const reply = await client.request({ method: 'GET', path });
      await reply.body.dump();
      samples.push(performance.now() - startedAt);
    }
  } finally {
    await client.close();
  }
  return round3(percentile(samples.sort((a, b) => a - b), 0.5));
}

/** Median time to append a 100-byte line and fdatasync it, on the disk that holds the temp dir. */
export async function fsyncLatencyMs(count: number): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bazaar-fsync-'));
  const handle = await open(path.join(dir, 'probe.jsonl'), 'a');
  const line = Buffer.from(`${'x'.repeat(99)}\n`);
  const samples: number[] = [];
  try {
    for (let index = 0; index < count; index += 1) {
      const startedAt = performance.now();
      await handle.write(line);
      await handle.datasync();
      samples.push(performance.now() - startedAt);
    }
  } finally {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  }
  return round3(percentile(samples.sort((a, b) => a - b), 0.5));
}

/** Nanoseconds per lru-cache hit, over many gets of a small cache. */
export function lruHitNs(count: number): number {
  const cache = new LRUCache<string, number>({ max: 100 });
  const keys = Array.from({ length: 11 }, (_, index) => `stock-${index}`);
  for (const key of keys) cache.set(key, 1);
  let sum = 0;
  const startedAt = process.hrtime.bigint();
  for (let index = 0; index < count; index += 1) sum += cache.get(keys[index % keys.length]!)!;
  const elapsed = Number(process.hrtime.bigint() - startedAt);
  if (sum !== count) throw new Error('every get must hit');
  return Math.round((elapsed / count) * 10) / 10;
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * The order of 2 x `pairs` runs of two builds or settings: A B, B A, A B, … On a machine that warms
 * up, the second run of a pair goes faster; alternating which side goes second keeps that from
 * flattering either.
 */
export function abba(pairs: number): Array<'A' | 'B'> {
  return Array.from({ length: pairs }, (_, index): Array<'A' | 'B'> => (index % 2 === 0 ? ['A', 'B'] : ['B', 'A'])).flat();
}

/** The middle value; with an even count, the mean of the two middle ones (an A/B has 2 x pairs runs). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const upper = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[upper]! : (sorted[upper - 1]! + sorted[upper]!) / 2;
}

/** Least-squares slope of RSS over time, in MB per minute: growth that first and last samples can hide. */
export function trendMbPerMinute(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const meanT = points.reduce((sum, [t]) => sum + t, 0) / n;
  const meanM = points.reduce((sum, [, mb]) => sum + mb, 0) / n;
  const covariance = points.reduce((sum, [t, mb]) => sum + (t - meanT) * (mb - meanM), 0);
  const variance = points.reduce((sum, [t]) => sum + (t - meanT) ** 2, 0);
  return Math.round((covariance / variance) * 60 * 100) / 100;
}

/** A latency a run must have produced (the client reports null for a kind with no successful request). */
export function measured(value: number | null, what: string): number {
  if (value === null) throw new Error(`no ${what}: the run had no successful request of that kind`);
  return value;
}
