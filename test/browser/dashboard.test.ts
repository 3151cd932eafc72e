// The dashboard in a real browser against a real `bazaar up` (the bundle): it shows the replicas and
// the leader, the stock table follows a trade made with curl, "Crash leader" brings a new leader and
// a new epoch while a load started from the page runs with no client error, and "Recover" brings the
// replica back in sync. Screenshots of each step go to $BAZAAR_SCREENSHOTS when set (kept), else to a
// temporary folder (removed).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.ts';
import { BUNDLE_COMMAND, type Proc, TestCluster } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';

const run = promisify(execFile);

async function curlTrade(frontend: string, name: string, type: 'buy' | 'sell'): Promise<number> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-X', 'POST', `${frontend}/orders`, '-H', 'content-type: application/json', '-d', JSON.stringify({ name, quantity: 1, type })]);
  const reply = JSON.parse(stdout) as { data?: { transaction_number?: number } };
  assert.equal(typeof reply.data?.transaction_number, 'number', `the trade was not accepted: ${stdout}`);
  return reply.data!.transaction_number!;
}

async function attribute(page: Page, selector: string, name: string): Promise<string | null> {
  return page.locator(selector).first().getAttribute(name, { timeout: 2_000 });
}

describe('the dashboard in a browser', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let up: Proc;
  let browser: Browser;
  let page: Page;
  let shots: string;
  const pageErrors: string[] = [];

  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  };

  before(async () => {
    shots = process.env.BAZAAR_SCREENSHOTS ?? (await mkdtemp(path.join(tmpdir(), 'bazaar-shots-')));
    await mkdir(shots, { recursive: true });
    cluster = await TestCluster.create({ command: BUNDLE_COMMAND, replicas: 3 });
    up = cluster.spawn(['up']);
    await up.waitFor(/Stock Bazaar is up/);
    assert.match(up.output, new RegExp(`dashboard: http://127\\.0\\.0\\.1:${cluster.ports.dashboard}/`));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // Every action asks to be confirmed; the user says yes.
    page.on('dialog', (dialog) => void dialog.accept());
  });

  after(async () => {
    await browser?.close();
    await up?.stop('SIGINT');
    await cluster?.destroy();
    if (process.env.BAZAAR_SCREENSHOTS === undefined) await rm(shots, { recursive: true, force: true });
  });

  test('shows three replicas and the leader, and the stock table follows a trade made with curl', async () => {
    await curlTrade(cluster.url('frontend'), 'FishCo', 'sell');
    await page.goto(cluster.url('dashboard'));
    await page.locator('#connection[data-state="open"]').waitFor({ timeout: 10_000 });
    await eventually(async () => {
      assert.equal(await page.locator('[data-replica]').count(), 3);
      assert.equal(await page.locator('[data-replica][data-sync="leader"]').count(), 1);
    });
    const leader = await attribute(page, '[data-sync="leader"]', 'data-replica');
    assert.equal(await attribute(page, '#frontend', 'data-leader'), leader);
    const quantity = async (): Promise<string> => page.locator('tr[data-stock="GameStart"] [data-field="quantity"]').innerText();
    const before = Number(await quantity());
    await shot('1-cluster');
    await curlTrade(cluster.url('frontend'), 'GameStart', 'buy');
    await eventually(async () => assert.equal(Number(await quantity()), before - 1));
    await eventually(async () => assert.match(await page.locator('#conservation').innerText(), /catalog = order log/));
    await shot('2-after-trade');
  });

  test('"Crash leader" brings a new leader and epoch while a load from the page runs without a client error; "Recover" brings it back in sync', async () => {
    const oldLeader = await attribute(page, '[data-sync="leader"]', 'data-replica');
    const oldEpoch = Number(await attribute(page, '#frontend', 'data-epoch'));
    await page.locator('#load-iterations').fill('400');
    await page.locator('#load-start').click();
    await page.locator('#load-verdict[data-state="running"]').waitFor({ timeout: 10_000 });

    await page.locator('#crash-leader').click();
    await eventually(async () => {
      assert.equal(await attribute(page, `[data-replica="${oldLeader}"]`, 'data-up'), 'false');
      const leader = await attribute(page, '[data-sync="leader"]', 'data-replica');
      assert.ok(leader !== null && leader !== oldLeader, `a new leader (was ${oldLeader}, now ${leader})`);
      assert.ok(Number(await attribute(page, '#frontend', 'data-epoch')) > oldEpoch, 'a new epoch');
    }, 10_000);
    await shot('3-leader-crashed');
    const timeline = await page.locator('#timeline').innerText();
    assert.match(timeline, new RegExp(`crashed the leader, order replica ${oldLeader}`));
    assert.match(timeline, /election/);

    // The load's own final check: every order it made is fetched back and compared.
    await page.locator('#load-verdict[data-state="ok"], #load-verdict[data-state="failed"]').waitFor({ timeout: 60_000 });
    const line = await page.locator('#load-line').innerText();
    assert.equal(await attribute(page, '#load-verdict', 'data-state'), 'ok', line);
    assert.match(line, / 0 errors, 0 mismatches/);

    await page.locator(`[data-replica="${oldLeader}"] [data-action="recover"]`).click();
    await eventually(async () => assert.equal(await attribute(page, `[data-replica="${oldLeader}"]`, 'data-sync'), 'in sync'), 20_000);
    assert.match(await page.locator('#timeline').innerText(), new RegExp(`recovered order replica ${oldLeader}`));
    await shot('4-recovered');
    assert.deepEqual(pageErrors, []);
  });
});
