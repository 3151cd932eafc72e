// CPU time each role spends, from /proc (utime + stime), for figures per trade and per order.
import { readdir, readFile } from 'node:fs/promises';

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
 * CPU per unit of work by role, and summed: `work` runs between two readings and returns how many
 * units (trades, orders) it did.
 */
export async function cpuPerUnit(roles: ReadonlyArray<readonly [string, number]>, work: () => Promise<number>): Promise<Record<string, number>> {
  const before = await Promise.all(roles.map(([, pid]) => cpuMs(pid)));
  const units = await work();
  const after = await Promise.all(roles.map(([, pid]) => cpuMs(pid)));
  const perUnit = Object.fromEntries(roles.map(([name], index) => [name, Math.round(((after[index]! - before[index]!) / units) * 1000) / 1000]));
  const summed = Math.round(Object.values(perUnit).reduce((sum, value) => sum + value, 0) * 1000) / 1000;
  return { ...perUnit, summed };
}
