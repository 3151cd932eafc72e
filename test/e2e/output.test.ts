// docs/output.md is generated from a real run (`npm run docs:output`); this runs the generator, so
// the document cannot silently stop being producible, and checks that what it shows is what the
// document says: a clean client run, a leader crash the client rode through, the recovery, and
// the exit statuses of commands that fail.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('npm run docs:output produces the sample output from a real run', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bazaar-output-'));
  try {
    const out = path.join(dir, 'output.md');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'output.ts'), '--out', out], { cwd: ROOT, timeout: 120_000 });
    const text = await readFile(out, 'utf8');
    for (const heading of ['## The cluster comes up', '## The API', '## The client', '## A leader crash under load, and its recovery', '## A lost disk, and its recovery', '## When something is wrong, the commands say so']) {
      assert.ok(text.includes(heading), `missing ${heading}`);
    }
    assert.match(text, /Stock Bazaar is up: catalog, order replicas 1, 2, 3, frontend\./);
    assert.match(text, /\{"data":\{"transaction_number":0\}\}[\s\S]*\{"data":\{"transaction_number":0\}\}/, 'the repeated key gave the same number');
    assert.equal(text.match(/verification: passed/g)?.length, 2, 'both client runs verified every order');
    assert.doesNotMatch(text, /verification: FAILED/);
    assert.match(text, /order replica \d crashed\n[\s\S]*?frontend\s+\S+\s+up\s+leader \d\s+([2-9]|\d\d)\s/, 'a new leader in a new epoch after the crash');
    assert.match(text, /is back \(pid \d+\)/);
    assert.match(text, /is down already[^\n]*\n\(exit status 1\)/);
    assert.match(text, /must be a number from 0 to 1\n\(run with --help for usage\)\n\(exit status 2\)/);
    assert.doesNotMatch(text.slice(0, text.indexOf('## A lost disk')), / warn /, 'a normal start and failover log no warning');
    assert.match(text, /warn order \d: its data folder is empty[^\n]*recovering from its peers/, 'the replica on an empty disk says it recovers');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
