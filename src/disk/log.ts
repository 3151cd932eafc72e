// The order log on disk: a journal of order entries (one a line, group-committed with fdatasync, torn
// tail cut on open, locked to one process, indexed on disk), whose numbers run from 0 without gaps
// and whose epochs never fall. The replica reads it through `ReadLog` and writes it through actions.
import { type OrderEntry, parseOrderEntry } from '../core/trade.ts';
import { Journal } from '../storage/journal.ts';
import { type Log, MemoryLog } from '../storage/log.ts';

export type OrderLog = Log<OrderEntry>;

/** Opens and locks the log; `cutBytes` says how much of a torn tail was cut. */
export async function openOrderLog(filePath: string, onLockLost: (error: Error) => void, options: { lockRetries?: number } = {}): Promise<{ log: OrderLog; cutBytes: number }> {
  let previousEpoch = 0;
  return Journal.open<OrderEntry>(filePath, onLockLost, {
    lockRetries: options.lockRetries,
    parse: (record, number) => parseOrderEntry(record, number, filePath),
    numberOf: (entry) => entry.number,
    replay: (entry) => {
      if (entry.epoch < previousEpoch) throw new Error(`${filePath}: entry ${entry.number} has epoch ${entry.epoch}, older than the entry before it`);
      previousEpoch = entry.epoch;
    },
  }).then(({ journal, cutBytes }) => ({ log: journal, cutBytes }));
}

/** The in-memory twin, for unit tests and the simulator. */
export class MemoryOrderLog extends MemoryLog<OrderEntry> {}
