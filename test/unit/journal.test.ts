// The journal and its on-disk key index: what keeps memory flat must still find every key, read every
// record, survive a crash between checkpoints, refuse an index that belongs to another file, and
// forget what a truncate cut.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import { Journal } from '../../src/storage/journal.ts';
import { jsonlLine } from '../../src/storage/jsonl.ts';
import { KeyIndex } from '../../src/storage/keyindex.ts';
import { JOURNAL_BLOCK_RECORDS, JOURNAL_RECENT_RECORDS, KEY_INDEX_CHECKPOINT_RECORDS, KEY_INDEX_INITIAL_SLOTS } from '../../src/core/limits.ts';
import { keyIndexPath } from '../../src/core/paths.ts';

interface Item {
  readonly n: number;
  readonly key: string;
}

const noLockLoss = (): void => assert.fail('the lock must not be lost in this test');
const item = (n: number, prefix = 'k'): Item => ({ n, key: `${prefix}${n}` });
const parse = (record: unknown, number: number): Item => {
  const value = record as Item;
  assert.equal(value.n, number, 'records are numbered from 0');
  return { n: value.n, key: value.key };
};
const openJournal = (file: string): Promise<{ journal: Journal<Item>; cutBytes: number }> => Journal.open<Item>(file, noLockLoss, { parse });

async function appendRange(journal: Journal<Item>, from: number, to: number, prefix = 'k'): Promise<void> {
  for (let start = from; start < to; start += 500) {
    await journal.append(Array.from({ length: Math.min(500, to - start) }, (_, i) => item(start + i, prefix)));
  }
}

describe('KeyIndex', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-keys-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('finds every key while it grows in the background, and after the grow is swapped in', async () => {
    const file = path.join(dir, 'grow.keys');
    const { index } = KeyIndex.open(file);
    const count = KEY_INDEX_INITIAL_SLOTS * 3; // Past half of 1×, 2× and 4× the initial table: grows overlap inserts.
    const always = (): boolean => true;
    let sawGrowFile = false;
    for (let n = 0; n < count; n += 1) {
      assert.equal(index.insert(`key-${n}`, n, always), undefined, `key-${n} is new`);
      if (n % 97 === 0) {
        assert.equal(index.find(`key-${Math.floor(n / 2)}`, always), Math.floor(n / 2), 'an earlier key is found mid-grow');
        sawGrowFile ||= (await readdir(dir)).includes('grow.keys.grow');
      }
    }
    assert.ok(sawGrowFile, 'a bigger table was filled beside the old one');
    for (let turns = 0; turns < 10_000 && (await readdir(dir)).includes('grow.keys.grow'); turns += 1) await nextTurn();
    assert.deepEqual(await readdir(dir), ['grow.keys'], 'the grown table replaced the old one');
    for (let n = 0; n < count; n += 1) assert.equal(index.find(`key-${n}`, always), n);
    assert.equal(index.find('absent', always), undefined);
    assert.ok(index.stats.slots >= count * 2, `the table holds each key at most half full (${JSON.stringify(index.stats)})`);
    await index.close({ covered: 0, end: 0, crc: 0 });
  });

  test('a stored number the owner does not confirm is passed over: stale entries never answer', async () => {
    const { index } = KeyIndex.open(path.join(dir, 'stale.keys'));
    index.insert('a', 5, () => true);
    assert.equal(index.find('a', (n) => n === 7), undefined, 'entry 5 is stale (cut from the journal)');
    assert.equal(index.insert('a', 7, (n) => n === 7), undefined, 'a stale entry does not block a new one');
    assert.equal(index.find('a', (n) => n === 7), 7);
    assert.equal(index.insert('a', 9, (n) => n === 7), 7, 'a live entry is reported, not duplicated');
    await index.close({ covered: 0, end: 0, crc: 0 });
  });
});

describe('Journal', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-journal-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const total = JOURNAL_RECENT_RECORDS * 2 + 37; // Older records are read from disk, not memory.

  test('reads and finds every record, old ones from disk, before and after a reopen', async () => {
    const file = path.join(dir, 'a', 'j.jsonl');
    const { journal } = await openJournal(file);
    await appendRange(journal, 0, total);
    for (const n of [0, 1, JOURNAL_BLOCK_RECORDS - 1, JOURNAL_BLOCK_RECORDS, 1234, total - JOURNAL_RECENT_RECORDS - 1, total - 1]) {
      assert.deepEqual(journal.read(n), item(n));
      assert.equal(journal.find(`k${n}`), n);
    }
    assert.equal(journal.read(total), undefined);
    assert.equal(journal.find('absent'), undefined);
    assert.deepEqual(journal.readRange(100, 300), Array.from({ length: 200 }, (_, i) => item(100 + i)));
    await journal.close();

    const { journal: reopened } = await openJournal(file);
    assert.equal(reopened.length, total);
    for (let n = 0; n < total; n += 1) assert.equal(reopened.find(`k${n}`), n, `k${n} after reopen`);
    assert.deepEqual(reopened.read(17), item(17));
    await reopened.close();
  });

  test('a copy taken mid-run (as a kill -9 leaves it: index past its checkpoint) opens and finds everything', async () => {
    const file = path.join(dir, 'b', 'j.jsonl');
    const { journal } = await openJournal(file);
    await appendRange(journal, 0, KEY_INDEX_CHECKPOINT_RECORDS + 3_000); // Past a checkpoint.
    const copy = path.join(dir, 'b2', 'j.jsonl');
    await mkdir(path.dirname(copy));
    await copyFile(file, copy);
    await copyFile(keyIndexPath(file), keyIndexPath(copy));
    await journal.close();

    const { journal: recovered } = await openJournal(copy);
    assert.equal(recovered.length, KEY_INDEX_CHECKPOINT_RECORDS + 3_000);
    for (let n = 0; n < KEY_INDEX_CHECKPOINT_RECORDS + 3_000; n += 1) assert.equal(recovered.find(`k${n}`), n);
    await appendRange(recovered, KEY_INDEX_CHECKPOINT_RECORDS + 3_000, KEY_INDEX_CHECKPOINT_RECORDS + 3_100);
    assert.equal(recovered.find(`k${KEY_INDEX_CHECKPOINT_RECORDS + 3_050}`), KEY_INDEX_CHECKPOINT_RECORDS + 3_050);
    await recovered.close();
  });

  test('an index that belongs to another file, or is missing or damaged, is rebuilt from the journal', async () => {
    const first = path.join(dir, 'c', 'one.jsonl');
    const second = path.join(dir, 'c', 'two.jsonl');
    for (const [file, prefix] of [[first, 'one-'], [second, 'two-']] as const) {
      const { journal } = await openJournal(file);
      await appendRange(journal, 0, 700, prefix);
      await journal.close();
    }
    await copyFile(keyIndexPath(first), keyIndexPath(second)); // Same length, other keys.
    const { journal } = await openJournal(second);
    assert.equal(journal.find('two-5'), 5);
    assert.equal(journal.find('one-5'), undefined);
    await journal.close();

    await writeFile(keyIndexPath(second), 'not an index');
    const { journal: again } = await openJournal(second);
    assert.equal(again.find('two-699'), 699);
    await again.close();

    await rm(keyIndexPath(second));
    const { journal: fresh } = await openJournal(second);
    assert.equal(fresh.find('two-0'), 0);
    await fresh.close();
  });

  test('a truncate forgets the cut keys, durably, and a cut key can come back at another number', async () => {
    const file = path.join(dir, 'd', 'j.jsonl');
    const { journal } = await openJournal(file);
    await appendRange(journal, 0, 200);
    await journal.truncate(70);
    assert.equal(journal.length, 70);
    assert.equal(journal.find('k70'), undefined);
    assert.equal(journal.find('k150'), undefined);
    assert.equal(journal.read(70), undefined);
    await journal.append([{ n: 70, key: 'k150' }, { n: 71, key: 'fresh' }]);
    assert.equal(journal.find('k150'), 70);
    await journal.close();

    const { journal: reopened } = await openJournal(file);
    assert.equal(reopened.length, 72);
    assert.equal(reopened.find('k150'), 70);
    assert.equal(reopened.find('k100'), undefined);
    assert.equal(reopened.find('k69'), 69);
    await reopened.truncate(JOURNAL_BLOCK_RECORDS); // A cut on a block boundary.
    assert.equal(reopened.find('fresh'), undefined);
    assert.deepEqual(reopened.read(JOURNAL_BLOCK_RECORDS - 1), item(JOURNAL_BLOCK_RECORDS - 1));
    await reopened.append([item(JOURNAL_BLOCK_RECORDS)]);
    await reopened.close();
  });

  test('memory does not grow with the journal: 60,000 more records leave the heap where it was', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const used = (): number => {
      gc();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const { journal } = await openJournal(path.join(dir, 'm', 'j.jsonl'));
    await appendRange(journal, 0, JOURNAL_RECENT_RECORDS + 1_000); // The ring of recent records is full.
    const before = used();
    await appendRange(journal, JOURNAL_RECENT_RECORDS + 1_000, JOURNAL_RECENT_RECORDS + 61_000);
    const grown = used() - before;
    // Held in memory, 60,000 records and their keys take over 10 MB; on disk, a few offsets.
    assert.ok(grown < 2 * 1024 * 1024, `the heap grew by ${(grown / 1024 / 1024).toFixed(1)} MB`);
    assert.equal(journal.find('k7'), 7);
    await journal.close();
  });

  test('a line damaged on disk after open is refused when read, never believed', async () => {
    const file = path.join(dir, 'e', 'j.jsonl');
    await mkdir(path.dirname(file), { recursive: true });
    const lines = Array.from({ length: total }, (_, n) => jsonlLine(item(n)));
    await writeFile(file, lines.join(''));
    const { journal } = await openJournal(file);
    const damaged = lines.map((line, n) => (n === 3 ? line.replace('"k3"', '"k9"') : line)).join('');
    await writeFile(file, damaged);
    assert.throws(() => journal.read(3), /line 4 is corrupt \(checksum mismatch\)/);
    await assert.rejects(journal.append([item(total)]), /corrupt/);
    await journal.close();
  });
});
