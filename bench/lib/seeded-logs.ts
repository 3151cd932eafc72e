// What the recovery and catalog-rebuild benchmarks share: order logs seeded with N committed orders
// (sells only, so no stock ever runs out; fields in the log's canonical order) and a process's peak
// memory.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestCluster } from '../../harness/cluster.ts';
import { jsonlLine } from '../../src/storage/jsonl.ts';

export const SEEDED_STOCKS = ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo'];
/** Lines built at a time, so a million orders never need to be one string in memory. */
const CHUNK_ORDERS = 100_000;

/** The peak resident memory of a running process (VmHWM), in MB. */
export async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Replicas `ids` hold the same `orders` committed orders of epoch 1, led by replica 3. */
export async function seedLogs(cluster: TestCluster, ids: readonly number[], orders: number): Promise<void> {
  for (const id of ids) {
    await mkdir(path.dirname(cluster.orderLogPath(id)), { recursive: true });
    await writeFile(cluster.orderLogPath(id), '');
    await writeFile(path.join(path.dirname(cluster.orderLogPath(id)), 'state.json'), `${JSON.stringify({ epoch: 1, leaderId: 3, logEpoch: 1 })}\n`);
  }
  for (let start = 0; start < orders; start += CHUNK_ORDERS) {
    const lines: string[] = [];
    for (let number = start; number < Math.min(orders, start + CHUNK_ORDERS); number += 1) {
      lines.push(jsonlLine({ number, epoch: 1, key: `seed-${number}`, name: SEEDED_STOCKS[number % SEEDED_STOCKS.length], type: 'sell', quantity: 1 }));
    }
    const text = lines.join('');
    for (const id of ids) await writeFile(cluster.orderLogPath(id), text, { flag: 'a' });
  }
}
