import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CorruptFileError, jsonlLine, parseJsonl } from '../../src/storage/jsonl.ts';
import type { OrderEntry } from '../../src/core/trade.ts';
import { openOrderLog } from '../../src/disk/log.ts';

const entry = (number: number, key = `k${number}`): OrderEntry => ({ number, epoch: 0, key, name: 'FishCo', type: 'buy', quantity: 1 });
const noLockLoss = (): void => assert.fail('the lock must not be lost in this test');

describe('parseJsonl', () => {
  const one = jsonlLine({ a: 1 });
  const two = jsonlLine({ a: 2 });

  test('every line carries a checksum of its JSON', () => {
    assert.match(one, /^\{"a":1,"crc":\d+\}\n$/);
  });

  test('a torn last line without a newline is cut', () => {
    const { records, ends, validBytes } = parseJsonl('f', Buffer.from(`${one}${two}{"a":`));
    assert.deepEqual(records, [{ a: 1 }, { a: 2 }]);
    assert.deepEqual(ends, [one.length, one.length + two.length]);
    assert.equal(validBytes, one.length + two.length);
  });

  test('a last line that ends in a newline but does not parse, or fails its checksum, is cut too', () => {
    assert.deepEqual(parseJsonl('f', Buffer.from(`${one}{"a"\n`)), { records: [{ a: 1 }], ends: [one.length], validBytes: one.length });
    const damaged = two.replace('"a":2', '"a":3');
    assert.deepEqual(parseJsonl('f', Buffer.from(`${one}${damaged}`)).records, [{ a: 1 }]);
  });

  test('a damaged or unchecksummed line before the last is refused, never skipped or believed', () => {
    assert.throws(() => parseJsonl('f', Buffer.from(`${one}xx\n${two}`)), CorruptFileError);
    assert.throws(() => parseJsonl('f', Buffer.from(`${one.replace('"a":1', '"a":7')}${two}`)), /checksum mismatch/);
    assert.throws(() => parseJsonl('f', Buffer.from(`{"a":1}\n${two}`)), /no checksum/);
  });

  test('an empty file has no records', () => {
    assert.deepEqual(parseJsonl('f', Buffer.alloc(0)), { records: [], ends: [], validBytes: 0 });
  });
});

describe('the order log', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-log-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('appended entries are on disk when append resolves and are read back on reopen', async () => {
    const file = path.join(dir, 'a', 'orders.jsonl');
    const { log } = await openOrderLog(file, noLockLoss);
    await log.append([entry(0)]);
    await log.append([entry(1), entry(2)]);
    assert.equal(log.length, 3);
    assert.deepEqual(log.read(2), entry(2));
    assert.equal(log.find('k1'), 1);
    await log.close();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.equal(`${lines[0]}\n`, jsonlLine(entry(0)));
    assert.match(lines[0]!, /^\{"number":0,"epoch":0,"key":"k0","name":"FishCo","type":"buy","quantity":1,"crc":\d+\}$/);

    const { log: reopened } = await openOrderLog(file, noLockLoss);
    assert.equal(reopened.length, 3);
    assert.deepEqual(reopened.read(1), entry(1));
    assert.equal(reopened.sizeBytes, Buffer.byteLength(lines.join('\n') + '\n'));
    await reopened.close();
  });

  test('concurrent appends share group commits and keep number order', async () => {
    const file = path.join(dir, 'b', 'orders.jsonl');
    const { log } = await openOrderLog(file, noLockLoss);
    await Promise.all(Array.from({ length: 500 }, (_, number) => log.append([entry(number)])));
    assert.equal(log.length, 500);
    await log.close();
    const numbers = (await readFile(file, 'utf8')).trimEnd().split('\n').map((line) => (JSON.parse(line) as OrderEntry).number);
    assert.deepEqual(numbers, Array.from({ length: 500 }, (_, number) => number));
  });

  test('an append that does not continue the log is a programmer error', async () => {
    const { log } = await openOrderLog(path.join(dir, 'c', 'orders.jsonl'), noLockLoss);
    await assert.rejects(log.append([entry(1)]), /contiguous/);
    await log.close();
  });

  test('a torn last line is cut on open and appends continue after the cut', async () => {
    const file = path.join(dir, 'd', 'orders.jsonl');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${jsonlLine(entry(0))}${jsonlLine(entry(1))}{"number":2,"epo`);
    const { log, cutBytes } = await openOrderLog(file, noLockLoss);
    assert.equal(cutBytes, '{"number":2,"epo'.length);
    assert.equal(log.length, 2);
    await log.append([entry(2)]);
    await log.close();
    const numbers = (await readFile(file, 'utf8')).trimEnd().split('\n').map((line) => (JSON.parse(line) as OrderEntry).number);
    assert.deepEqual(numbers, [0, 1, 2]);
  });

  test('a log with a gap in its numbers or a repeated key is refused on open', async () => {
    const gap = path.join(dir, 'e', 'orders.jsonl');
    await mkdir(path.dirname(gap), { recursive: true });
    await writeFile(gap, `${jsonlLine(entry(0))}${jsonlLine(entry(2))}${jsonlLine(entry(3))}`);
    await assert.rejects(openOrderLog(gap, noLockLoss), /entry 1 is not a valid order/);

    const twice = path.join(dir, 'f', 'orders.jsonl');
    await mkdir(path.dirname(twice), { recursive: true });
    await writeFile(twice, `${jsonlLine(entry(0, 'same'))}${jsonlLine(entry(1, 'same'))}`);
    await assert.rejects(openOrderLog(twice, noLockLoss), /key same appears in entries 0 and 1/);
  });

  test('a second owner of the same log is refused while the first holds it', async () => {
    const file = path.join(dir, 'g', 'orders.jsonl');
    const { log } = await openOrderLog(file, noLockLoss);
    await assert.rejects(openOrderLog(file, noLockLoss, { lockRetries: 0 }), new RegExp(`is locked by process ${process.pid} on `));
    await log.close();
    const { log: again } = await openOrderLog(file, noLockLoss, { lockRetries: 0 });
    await again.close();
  });

  test('appending a record to a closed log is refused', async () => {
    const file = path.join(dir, 'h', 'orders.jsonl');
    const { log } = await openOrderLog(file, noLockLoss);
    await log.close();
    await assert.rejects(log.append([entry(0)]), /closed/);
  });
});

describe('the order log.truncate', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-truncate-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a conflicting suffix is cut on disk and from the key index, and the log goes on from the cut', async () => {
    const file = path.join(dir, 'orders.jsonl');
    const { log } = await openOrderLog(file, noLockLoss);
    await log.append([entry(0), entry(1), entry(2), entry(3)]);
    await log.truncate(2);
    assert.equal(log.length, 2);
    assert.equal(log.find('k3'), undefined);
    assert.equal(log.read(2), undefined);
    await log.append([{ ...entry(2), key: 'new', epoch: 1 }]);
    await log.close();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as OrderEntry);
    assert.deepEqual(lines.map((line) => line.key), ['k0', 'k1', 'new']);
    assert.equal(lines.length, 3);

    const { log: reopened } = await openOrderLog(file, noLockLoss);
    await reopened.truncate(0);
    assert.equal(reopened.length, 0);
    assert.equal(reopened.sizeBytes, 0);
    await reopened.close();
    assert.equal(await readFile(file, 'utf8'), '');
  });
});
