// CPU time each role spends, from /proc (utime + stime), for figures per trade and per order.
import { readdir, readFile } from 'node:fs/promises';
import { round3 } from './measure.ts';

const TICKS_PER_S = 100;

/** CPU milliseconds `pid` has used so far. */
export async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the ") ".
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

/** The roles `bazaar up` (process `upPid`) runs, by name (`catalog`, `order 3`, `frontend`), from /proc. */
export async function rolesOf(upPid: number): Promise<Array<[string, number]>> {
  const roles: Array<[string, number]> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number((await readFile(`/proc/${entry}/stat`, 'utf8')).split(') ')[1]!.split(' ')[1]);
      if (parent !== upPid) continue;
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const role = argv.find((arg) => arg === 'catalog' || arg === 'order' || arg === 'frontend');
      if (role === undefined) continue;
      roles.push([role === 'order' ? `order ${argv[argv.indexOf('--id') + 1]}` : role, Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
  }
  return roles.sort(([a], [b]) => a.localeCompare(b));
}

/**
 * Reads every role's CPU now; `perUnit(units)` reads it again and gives the CPU milliseconds each
 * role spent per unit of work (trade, order) in between, and their sum.
 */
export async function cpuMeter(roles: ReadonlyArray<readonly [string, number]>): Promise<{ perUnit(units: number): Promise<Record<string, number>> }> {
  const before = await Promise.all(roles.map(([, pid]) => cpuMs(pid)));
  return {
    perUnit: async (units) => {
      const after = await Promise.all(roles.map(([, pid]) => cpuMs(pid)));
      const perUnit = Object.fromEntries(roles.map(([name], index) => [name, round3((after[index]! - before[index]!) / Math.max(1, units))]));
      return { ...perUnit, summed: round3(Object.values(perUnit).reduce((sum, value) => sum + value, 0)) };
    },
  };
}
