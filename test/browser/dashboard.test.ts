// The dashboard in a real browser against a real `bazaar up` (the bundle): it shows the replicas and
// the leader, the stock table follows a trade made with curl, "Crash leader" brings a new leader and
// a new epoch while a load started from the page runs with no client error, and "Recover" brings the
// replica back in sync. Screenshots of each step go to $BAZAAR_SCREENSHOTS when set (kept), else to a
// temporary folder (removed).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../harness/browser.ts';
import { BUNDLE_COMMAND, http, postOrder, type Proc, TestCluster } from '../../harness/cluster.ts';
import { eventually, until } from '../../harness/wait.ts';

const run = promisify(execFile);

async function curlTrade(frontend: string, name: string, type: 'buy' | 'sell'): Promise<number> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-X', 'POST', `${frontend}/orders`, '-H', 'content-type: application/json', '-d', JSON.stringify({ name, quantity: 1, type })]);
  const reply = JSON.parse(stdout) as { data?: { transaction_number?: number } };
  assert.equal(typeof reply.data?.transaction_number, 'number', `the trade was not accepted: ${stdout}`);
  return reply.data!.transaction_number!;
}

/** A process's state letter from /proc (T: stopped by a signal). */
function processState(pid: number): string {
  return /\) (\w) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '?';
}

async function postTrade(cluster: TestCluster): Promise<void> {
  const reply = await postOrder(cluster.url('frontend'), { name: 'FishCo', quantity: 1, type: 'sell' });
  assert.equal(reply.status, 200);
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

describe('the dashboard of a cluster with a token', { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let up: Proc;
  let browser: Browser;
  let page: Page;
  /** What the user types at each token prompt, in order. */
  const typed: string[] = [];

  before(async () => {
    cluster = await TestCluster.create({ command: BUNDLE_COMMAND, replicas: 3, token: 'the-cluster-token' });
    up = cluster.spawn(['up']);
    await up.waitFor(/Stock Bazaar is up/);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('dialog', (dialog) => void (dialog.type() === 'prompt' ? dialog.accept(typed.shift() ?? '') : dialog.accept()));
  });

  after(async () => {
    await browser?.close();
    await up?.stop('SIGINT');
    await cluster?.destroy();
  });

  test('an action asks for the token once; a wrong one is refused and shown, the right one works', async () => {
    await page.goto(cluster.url('dashboard'));
    await page.locator('[data-replica="1"][data-up="true"]').waitFor({ timeout: 10_000 });
    typed.push('not-the-token');
    await page.locator('[data-replica="1"] [data-action="crash"]').click();
    await page.locator('#action-status[data-state="failed"]').waitFor({ timeout: 10_000 });
    assert.match(await page.locator('#action-status').innerText(), /cluster token/);
    assert.equal(await attribute(page, '[data-replica="1"]', 'data-up'), 'true');

    typed.push('the-cluster-token');
    await page.locator('[data-replica="1"] [data-action="crash"]').click();
    await page.locator('[data-replica="1"][data-up="false"]').waitFor({ timeout: 10_000 });
    // Kept in the tab: the next action asks no more (no prompt answer is queued).
    await page.locator('[data-replica="1"] [data-action="recover"]').click();
    await page.locator('[data-replica="1"][data-up="true"]').waitFor({ timeout: 20_000 });
    assert.equal(typed.length, 0);
  });

  test('"Hang leader" stops the leader for real and it comes back', async () => {
    await postTrade(cluster);
    // The page samples once a second: wait until it shows the leader the frontend follows now (the
    // one the dashboard will hang), not one from before the last test's crash and recover.
    const serving = ((await http(`${cluster.url('frontend')}/health`)).body as { data: { leader: number } }).data.leader;
    const leader = await until('the leader on the page', async () => ((await attribute(page, '[data-sync="leader"]', 'data-replica').catch(() => null)) === String(serving) ? String(serving) : undefined));
    const pid = Number(await attribute(page, `[data-replica="${leader}"]`, 'data-pid'));
    await page.locator('#hang-seconds').fill('1.5');
    await page.locator('#hang-leader').click();
    // The status reads ok while the action is still on its way ("Hang …"), and the last test left it
    // "done": watch the process itself, which the hang stops for 1.5 s.
    await until('the leader is stopped (SIGSTOP)', () => (processState(pid) === 'T' ? true : undefined), 5_000, 20);
    await eventually(async () => assert.match(await page.locator('#timeline').innerText(), new RegExp(`hung the leader, order replica ${leader} \\(pid ${pid}\\), for 1.5 s`)));
    await eventually(() => assert.notEqual(processState(pid), 'T'), 5_000);
  });
});
