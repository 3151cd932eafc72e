// What a replica makes of its data folder at start (src/disk/verdict.ts): every way a folder can be
// found, and the verdict each gets. Anything in doubt is a recovery, never a silent fresh start.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DiskFacts } from '../../src/disk/verdict.ts';
import { judgeDisk } from '../../src/disk/verdict.ts';
import type { DiskIdentity } from '../../src/disk/identity.ts';
import type { ReplicaState } from '../../src/disk/state.ts';

const ME = { cluster: 'bazaar', replica: 2 };
const IDENTITY: DiskIdentity = { cluster: 'bazaar', replica: 2, disk: 'd-1', created: '2026-12-02T00:00:00.000Z' };
const STATE: ReplicaState = { epoch: 7, leaderId: 3, logEpoch: 7, recovering: false };
const SOUND: DiskFacts = { identity: { kind: 'ok', identity: IDENTITY }, state: { kind: 'ok', state: STATE }, log: { present: true, length: 40 } };

function verdictOf(change: Partial<DiskFacts>): ReturnType<typeof judgeDisk> {
  return judgeDisk({ ...SOUND, ...change }, ME);
}

describe('a replica judges its data folder at start', () => {
  test('identity, state and log all there: sound, with the state as saved', () => {
    assert.deepEqual(verdictOf({}), { kind: 'sound', state: STATE, adopt: false });
  });

  test('an empty folder is a lost disk, never a new cluster (that is said with bazaar init or up)', () => {
    const verdict = verdictOf({ identity: { kind: 'missing' }, state: { kind: 'missing' }, log: { present: false, length: 0 } });
    assert.equal(verdict.kind, 'recovering');
    assert.match((verdict as { why: string }).why, /empty/);
    assert.deepEqual((verdict as { state: ReplicaState }).state, { epoch: 0, leaderId: null, logEpoch: 0, recovering: true });
  });

  test('the log lost, the state kept: recovering, remembering the epoch it joined (it still refuses older leaders)', () => {
    const verdict = verdictOf({ log: { present: false, length: 0 } });
    assert.equal(verdict.kind, 'recovering');
    assert.match((verdict as { why: string }).why, /order log is missing/);
    // The log epoch is not kept: a log it no longer has must never win an election.
    assert.deepEqual((verdict as { state: ReplicaState }).state, { epoch: 7, leaderId: null, logEpoch: 0, recovering: true });
  });

  test('the state lost or damaged, the log kept: recovering from epoch 0', () => {
    for (const state of [{ kind: 'missing' } as const, { kind: 'damaged', why: 'state.json is not JSON' } as const]) {
      const verdict = verdictOf({ state });
      assert.equal(verdict.kind, 'recovering');
      assert.deepEqual((verdict as { state: ReplicaState }).state, { epoch: 0, leaderId: null, logEpoch: 0, recovering: true });
    }
  });

  test('a damaged line in the log: recovering, and the reason names the line', () => {
    const verdict = verdictOf({ log: { present: true, length: 12, damage: 'line 13 of its order log is damaged (checksum mismatch)' } });
    assert.equal(verdict.kind, 'recovering');
    assert.match((verdict as { why: string }).why, /line 13/);
  });

  test('a damaged identity: recovering', () => {
    assert.equal(verdictOf({ identity: { kind: 'damaged', why: 'identity.json is not JSON' } }).kind, 'recovering');
  });

  test('a crash during recovery: recovering again', () => {
    assert.equal(verdictOf({ state: { kind: 'ok', state: { ...STATE, recovering: true } } }).kind, 'recovering');
  });

  test('a folder from before disk identities, whole, is kept and given one; half of one recovers', () => {
    assert.deepEqual(verdictOf({ identity: { kind: 'missing' } }), { kind: 'sound', state: STATE, adopt: true });
    assert.equal(verdictOf({ identity: { kind: 'missing' }, state: { kind: 'missing' } }).kind, 'recovering');
  });

  test('another replica\'s or another cluster\'s disk is refused, not recovered over', () => {
    for (const identity of [{ ...IDENTITY, replica: 3 }, { ...IDENTITY, cluster: 'other' }]) {
      const verdict = verdictOf({ identity: { kind: 'ok', identity } });
      assert.equal(verdict.kind, 'foreign');
      assert.match((verdict as { why: string }).why, /belongs to replica \d of cluster "\w+"/);
    }
  });
});
