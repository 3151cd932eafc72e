// The data-file lock: a live holder keeps others off; a holder killed with SIGKILL is taken over at
// once (not after proper-lockfile's 2 s staleness); an owner record about another lock is not believed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { lockFile } from '../../src/storage/lock.ts';
import { lockOwnerPath } from '../../src/core/paths.ts';
import { Proc } from '../../harness/cluster.ts';

const HOLDER = fileURLToPath(new URL('../helpers/hold-lock.ts', import.meta.url));
const noLockLoss = (): void => assert.fail('the lock must not be lost in this test');

function holdLock(file: string): Proc {
  return new Proc('lock holder', spawn(process.execPath, ['--import', 'tsx', HOLDER, file], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('lockFile', () => {
  let dir = '';
  const holders: Proc[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-lock-'));
  });
  after(async () => {
    await Promise.all(holders.map((holder) => holder.crash()));
    await rm(dir, { recursive: true, force: true });
  });

  test('a live holder in another process keeps the lock, and is named', async () => {
    const file = path.join(dir, 'live.jsonl');
    const holder = holdLock(file);
    holders.push(holder);
    await holder.waitFor(/locked/);
    await assert.rejects(lockFile(file, noLockLoss, 0), new RegExp(`is locked by process ${holder.pid} on `));
  });

  test('after kill -9 of the holder the lock is taken at once, with no wait for staleness', async () => {
    const file = path.join(dir, 'killed.jsonl');
    const holder = holdLock(file);
    holders.push(holder);
    await holder.waitFor(/locked/);
    await holder.crash();
    // No retries: proper-lockfile alone would refuse, the dead holder's lock being fresher than 2 s.
    const release = await lockFile(file, noLockLoss, 0);
    await release();
  });

  test('an owner record about an earlier lock is not believed about the current one', async () => {
    const file = path.join(dir, 'reused.jsonl');
    const finished = new Proc('finished', spawn(process.execPath, ['-e', '0']));
    await finished.exited;
    await mkdir(`${file}.lock`); // Someone's fresh lock, and a record left by an earlier, dead holder.
    await writeFile(lockOwnerPath(file), JSON.stringify({ pid: finished.pid, host: hostname(), boot: 'b', lock: '1:1' }));
    await assert.rejects(lockFile(file, noLockLoss, 0), /is locked by another running process/);
  });
});
