// What operators on the systemd deployment get: every role's /metrics passes `promtool check
// metrics` (Debian's prometheus package; .ci/run installs it), roles/prometheus.yml passes
// `promtool check config`, and every metric the Grafana dashboard in roles/ queries is exported.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseMetrics } from '../../src/dashboard/prometheus.ts';
import { http, postOrder, ROOT, TestCluster } from '../../harness/cluster.ts';
import { loadConfig } from '../../src/core/config.ts';
import { makeCerts } from '../../src/tls/certs.ts';

const PROMTOOL = process.env.BAZAAR_PROMTOOL ?? 'promtool';

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', timeout: 20_000 });
  if (result.error !== undefined) throw new Error(`cannot run ${PROMTOOL} (install Debian's prometheus package; .ci/run does): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** Metric names a PromQL expression reads (ours all start with bazaar_). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bbazaar_[a-z0-9_]+/g)].map((match) => match[0]);
}

describe('metrics for Prometheus and Grafana', () => {
  let cluster: TestCluster;
  const texts = new Map<string, string>();

  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    await cluster.startAll();
    const frontend = cluster.url('frontend');
    // Traffic of every kind, so every series the dashboard queries has a sample.
    for (let index = 0; index < 4; index += 1) {
      assert.equal((await postOrder(frontend, { name: 'FishCo', quantity: 1, type: index % 2 === 0 ? 'sell' : 'buy' })).status, 200);
      await http(`${frontend}/stocks/FishCo`);
    }
    assert.equal((await postOrder(frontend, { name: 'FishCo', quantity: 1_000, type: 'buy' })).status, 409);
    await http(`${frontend}/orders/0`);
    for (const role of ['frontend', 'catalog', 1, 2, 3] as const) texts.set(String(role), (await http(`${cluster.url(role)}/metrics`)).text);
  });

  after(async () => {
    await cluster?.destroy();
  });

  test('every role\'s /metrics passes promtool check metrics, lint included', () => {
    for (const [role, text] of texts) {
      const { status, output } = promtool(['check', 'metrics'], text);
      assert.equal(output, '', `${role}: ${output}`);
      assert.equal(status, 0, `${role}: promtool exited with ${status}`);
    }
  });

  test('roles/prometheus.yml is a valid Prometheus config, its TLS files those `bazaar certs` makes', async () => {
    // promtool reads the files the config names: here, ones `bazaar certs` made for this cluster.
    const certs = path.join(cluster.dir, 'prometheus-tls');
    await makeCerts(loadConfig(cluster.configPath), { dir: certs, days: 1, caDays: 1 });
    const text = readFileSync(path.join(ROOT, 'roles/prometheus.yml'), 'utf8');
    assert.equal((text.match(/cert_file: \/etc\/bazaar\/tls\/prometheus\.crt/g) ?? []).length, 3, 'every job shows the prometheus certificate');
    const file = path.join(cluster.dir, 'prometheus.yml');
    writeFileSync(file, text.replaceAll('/etc/bazaar/tls/', `${certs}/`));
    const { status, output } = promtool(['check', 'config', file]);
    assert.equal(status, 0, output);
  });

  test('every metric the Grafana dashboard queries is exported by some role', () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'roles/grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exported = new Set([...texts.values()].flatMap((text) => parseMetrics(text).map((sample) => sample.name)));
    const queried = dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => metricNames(target.expr).map((name) => [panel.title, name] as const)));
    assert.ok(queried.length >= 10, 'the dashboard queries our metrics');
    const missing = queried.filter(([, name]) => !exported.has(name)).map(([title, name]) => `${name} (panel "${title}")`);
    assert.deepEqual(missing, []);
  });
});
