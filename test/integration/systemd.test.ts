// The systemd units in roles/ pass `systemd-analyze verify` (which only warns, on stderr, about
// unknown or misspelled directives, so stderr must be empty), run the right role, and are hardened.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../../harness/cluster.ts';

const ROLES = path.join(ROOT, 'roles');
const available = spawnSync('systemd-analyze', ['--version']).status === 0;

function verify(dir: string, files: string[]): { status: number | null; stderr: string } {
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', ...files.map((file) => path.join(dir, file))], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr.trim() };
}

describe('systemd units (roles/)', { skip: available ? false : 'systemd-analyze is not installed (apt-get install systemd); .ci/run installs it' }, () => {
  let dir = '';
  const units = ['bazaar-catalog.service', 'bazaar-frontend.service', 'bazaar-dashboard.service', 'bazaar-order@1.service', 'bazaar-order@2.service', 'bazaar-order@3.service', 'bazaar-init@1.service', 'bazaar.target'];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-units-'));
    for (const file of ['bazaar-catalog.service', 'bazaar-frontend.service', 'bazaar-dashboard.service', 'bazaar.target']) await copyFile(path.join(ROLES, file), path.join(dir, file));
    for (const id of [1, 2, 3]) await copyFile(path.join(ROLES, 'bazaar-order@.service'), path.join(dir, `bazaar-order@${id}.service`));
    await copyFile(path.join(ROLES, 'bazaar-init@.service'), path.join(dir, 'bazaar-init@1.service'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('systemd-analyze verify passes on every unit, with no warning', () => {
    const { status, stderr } = verify(dir, units);
    assert.equal(status, 0, stderr);
    assert.equal(stderr, '', 'no warnings');
  });

  test('the check can fail: a misspelled directive is reported', async () => {
    const broken = path.join(dir, 'bazaar-broken.service');
    await writeFile(broken, (await readFile(path.join(dir, 'bazaar-catalog.service'), 'utf8')).replace('ProtectSystem=strict', 'ProtectSystm=strict'));
    assert.match(verify(dir, ['bazaar-broken.service']).stderr, /Unknown key 'ProtectSystm'/);
  });

  test('each unit runs its role from the shared config, hardened, and restarts after a crash but not after a deliberate stop', async () => {
    const roles: Record<string, string> = {
      'bazaar-catalog.service': 'catalog',
      'bazaar-frontend.service': 'frontend',
      'bazaar-dashboard.service': 'dashboard',
      'bazaar-order@.service': 'order --id %i',
    };
    for (const [file, role] of Object.entries(roles)) {
      const text = await readFile(path.join(ROLES, file), 'utf8');
      assert.match(text, new RegExp(`^ExecStart=/usr/bin/env node /opt/bazaar/bazaar\\.mjs ${role} --config /etc/bazaar/bazaar\\.json$`, 'm'), file);
      for (const line of ['DynamicUser=yes', 'StateDirectory=bazaar', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'CapabilityBoundingSet=', 'Restart=on-abnormal', 'WantedBy=bazaar.target', 'PartOf=bazaar.target']) {
        assert.ok(text.split('\n').includes(line), `${file} has ${line}`);
      }
      // journald tags the role's lines with its name, not 'env' (the program ExecStart runs).
      assert.match(text, new RegExp(`^SyslogIdentifier=bazaar-${file === 'bazaar-order@.service' ? 'order@%i' : role}$`, 'm'), file);
      // Its Documentation= is a file the install steps in docs/deploy.md put there.
      const documentation = /^Documentation=file:(.*)$/m.exec(text)?.[1];
      assert.equal(documentation, '/opt/bazaar/docs/deploy.md', file);
      assert.match(await readFile(path.join(ROLES, '../docs/deploy.md'), 'utf8'), /install -D -m 0644 deploy\.md \/opt\/bazaar\/docs\/deploy\.md/);
    }
  });

  test('a new cluster\'s replica disk is initialised by a oneshot unit with the replica\'s own user and state directory, as docs/deploy.md says', async () => {
    const init = await readFile(path.join(ROLES, 'bazaar-init@.service'), 'utf8');
    const order = await readFile(path.join(ROLES, 'bazaar-order@.service'), 'utf8');
    assert.match(init, /^ExecStart=\/usr\/bin\/env node \/opt\/bazaar\/bazaar\.mjs init --id %i --config \/etc\/bazaar\/bazaar\.json$/m);
    assert.ok(init.split('\n').includes('Type=oneshot'));
    for (const line of ['DynamicUser=yes', 'User=bazaar', 'Group=bazaar', 'StateDirectory=bazaar']) {
      assert.ok(init.split('\n').includes(line) && order.split('\n').includes(line), `both units have ${line}`);
    }
    assert.match(await readFile(path.join(ROLES, '../docs/deploy.md'), 'utf8'), /systemctl start bazaar-init@N/);
  });

  test('each serving role\'s TLS drop-in hands it the CA and its own certificate and key as credentials, and points it there; each unit with its drop-in passes verify', async () => {
    const names: Record<string, string> = { 'bazaar-catalog.service': 'catalog', 'bazaar-order@.service': 'order-%i', 'bazaar-frontend.service': 'frontend-1', 'bazaar-dashboard.service': 'dashboard' };
    const merged: string[] = [];
    for (const [unit, name] of Object.entries(names)) {
      const dropIn = await readFile(path.join(ROLES, `${unit}.d`, 'tls.conf'), 'utf8');
      const lines = dropIn.split('\n');
      for (const line of ['[Service]', 'LoadCredential=ca.crt:/etc/bazaar/tls/ca.crt', `LoadCredential=${name}.crt:/etc/bazaar/tls/${name}.crt`, `LoadCredential=${name}.key:/etc/bazaar/tls/${name}.key`, 'Environment=BAZAAR_TLS_DIR=%d']) {
        assert.ok(lines.includes(line), `${unit}.d/tls.conf has ${line}`);
      }
      // systemd reads a drop-in as more lines of the unit: verify the two as one.
      const file = unit.replace('@.service', '@1.service').replace('.service', '-tls.service');
      await writeFile(path.join(dir, file), `${await readFile(path.join(ROLES, unit), 'utf8')}\n${dropIn}`);
      merged.push(file);
    }
    const { status, stderr } = verify(dir, merged);
    assert.equal(status, 0, stderr);
    assert.equal(stderr, '', 'no warnings');
  });

  test('the example config is valid, keeps its data in the state directory, and gets its token from the example env file', async () => {
    const { parseConfig } = await import('../../src/core/config.ts');
    const envText = await readFile(path.join(ROLES, 'bazaar.example.env'), 'utf8');
    const token = /^BAZAAR_TOKEN=(.+)$/m.exec(envText)?.[1];
    assert.ok(token !== undefined, 'the example env file sets BAZAAR_TOKEN');
    const config = parseConfig(JSON.parse(await readFile(path.join(ROLES, 'bazaar.example.json'), 'utf8')), { configPath: '/etc/bazaar/bazaar.json', env: { BAZAAR_TOKEN: token } });
    assert.equal(config.dataDir, '/var/lib/bazaar');
    assert.deepEqual(config.tls, { dir: '/etc/bazaar/tls' }, 'the example runs with the cluster\'s TLS, its files where the drop-ins read them');
    assert.equal(config.token, token);
    for (const file of ['bazaar-catalog.service', 'bazaar-frontend.service', 'bazaar-dashboard.service', 'bazaar-order@.service']) {
      assert.ok((await readFile(path.join(ROLES, file), 'utf8')).includes('EnvironmentFile=-/etc/bazaar/bazaar.env'), `${file} reads the env file`);
    }
  });
});
