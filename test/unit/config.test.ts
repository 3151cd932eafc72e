import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig, openInternalsWarning, parseConfig, resolveConfigPath } from '../../src/core/config.ts';
import { ConfigError } from '../../src/core/errors.ts';

const base = () => ({
  dataDir: '../data',
  frontend: { host: '127.0.0.1', port: 8000 },
  catalog: { host: '127.0.0.1', port: 8001 },
  orders: [
    { id: 1, host: '127.0.0.1', port: 8011 },
    { id: 3, host: '127.0.0.1', port: 8013 },
    { id: 2, host: '127.0.0.1', port: 8012 },
  ],
  cache: { enabled: true, max: 100 },
});
const at = '/etc/bazaar/conf/bazaar.json';

function rejects(raw: unknown, pattern: RegExp): void {
  assert.throws(() => parseConfig(raw, { configPath: at, env: {} }), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
}

describe('config', () => {
  test('the documented shape parses, relative paths resolve against the config folder, replicas sort by id', () => {
    const config = parseConfig(base(), { configPath: at, env: {} });
    assert.equal(config.dataDir, '/etc/bazaar/data');
    assert.deepEqual(config.orders.map((replica) => replica.id), [1, 2, 3]);
    assert.equal(config.frontend.bind, '127.0.0.1', 'bind defaults to host');
    assert.equal(config.token, undefined);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.orders[0]), 'the config is frozen all the way down');
  });

  test('the dashboard listens on loopback :8080 unless the "dashboard" key places it, validated like every endpoint', () => {
    assert.deepEqual(parseConfig(base(), { configPath: at, env: {} }).dashboard, { host: '127.0.0.1', port: 8080, bind: '127.0.0.1', scheme: 'http' });
    assert.deepEqual(parseConfig({ ...base(), dashboard: { host: '10.0.0.5', port: 9000, bind: '0.0.0.0' } }, { configPath: at, env: {} }).dashboard, { host: '10.0.0.5', port: 9000, bind: '0.0.0.0', scheme: 'http' });
    rejects({ ...base(), dashboard: { host: '127.0.0.1', port: 0 } }, /"dashboard\.port" must be an integer/);
    rejects({ ...base(), dashboard: { host: '127.0.0.1', port: 9000, path: '/' } }, /unknown config key "dashboard\.path"/);
    rejects({ ...base(), dashboard: { host: '127.0.0.1', port: 8000 } }, /already used by frontend/);
    // The default is not checked against the others: a config that never names the dashboard stays valid.
    assert.equal(parseConfig({ ...base(), frontend: { host: '127.0.0.1', port: 8080 } }, { configPath: at, env: {} }).dashboard.port, 8080);
  });

  test('"frontends" lists several frontends ("frontend" stays valid, not both); each is checked like any endpoint', () => {
    const { frontend: _one, ...rest } = base();
    const config = parseConfig({ ...rest, frontends: [{ host: '127.0.0.1', port: 8000 }, { host: '127.0.0.1', port: 8002 }] }, { configPath: at, env: {} });
    assert.deepEqual(config.frontends.map((endpoint) => endpoint.port), [8000, 8002]);
    assert.equal(config.frontend.port, 8000, 'the first is where clients go by default');
    assert.deepEqual(parseConfig(base(), { configPath: at, env: {} }).frontends.map((endpoint) => endpoint.port), [8000]);
    rejects({ ...base(), frontends: [{ host: '127.0.0.1', port: 8002 }] }, /"frontend" and "frontends" cannot both be given/);
    rejects({ ...rest, frontends: [] }, /"frontends" must be a non-empty array/);
    rejects({ ...rest, frontends: [{ host: '127.0.0.1', port: 8000 }, { host: '127.0.0.1', port: 8000 }] }, /"frontends\[1\]\.port": 127\.0\.0\.1:8000 is already used by frontends\[0\]/);
    rejects({ ...rest, frontends: [{ host: '127.0.0.1', port: 8001 }] }, /already used by frontends\[0\]/);
  });

  test('the default catalog holds the eleven required stocks with quantity 100 each', () => {
    const config = parseConfig(base(), { configPath: at, env: {} });
    const required = ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo', 'RottenFishCo', 'CaesarTech', 'Reneium', 'Goscinnyium', 'PiloteCo', 'DogmatixCo', 'LutetiaTech'];
    for (const name of required) {
      assert.equal(config.catalog.stocks.find((stock) => stock.name === name)?.quantity, 100, name);
    }
  });

  test('the cluster is named "bazaar" unless "cluster" names it; a name that could not be a folder-safe word is rejected', () => {
    assert.equal(parseConfig(base(), { configPath: at, env: {} }).cluster, 'bazaar');
    assert.equal(parseConfig({ ...base(), cluster: 'prod-eu.1' }, { configPath: at, env: {} }).cluster, 'prod-eu.1');
    for (const cluster of ['', '-x', 'a b', 'a/b', 'x'.repeat(65), 7]) rejects({ ...base(), cluster }, /config key "cluster"/);
  });

  test('unknown keys are rejected with the key named', () => {
    rejects({ ...base(), cahce: {} }, /unknown config key "cahce"/);
    rejects({ ...base(), frontend: { host: 'a', port: 1, prot: 2 } }, /unknown config key "frontend.prot"/);
    rejects({ ...base(), orders: [{ id: 1, host: 'a', port: 5, weight: 1 }] }, /"orders\[0\].weight"/);
  });

  test('duplicate ids and duplicate addresses are rejected with the key named', () => {
    const duplicateId = base();
    duplicateId.orders[1]!.id = 1;
    rejects(duplicateId, /"orders\[1\].id": id 1 is used twice/);
    const duplicatePort = base();
    duplicatePort.catalog.port = 8000;
    rejects(duplicatePort, /"catalog.port": 127.0.0.1:8000 is already used by frontend/);
  });

  test('bad values are rejected with the key named', () => {
    rejects({ ...base(), frontend: { host: '127.0.0.1', port: 70000 } }, /"frontend.port" must be an integer from 1 to 65535/);
    rejects({ ...base(), frontend: { host: '127.0.0.1', port: '8000' } }, /"frontend.port"/);
    rejects({ ...base(), orders: [] }, /"orders" must be a non-empty array/);
    rejects({ ...base(), orders: [{ id: 0, host: 'a', port: 5 }] }, /"orders\[0\].id"/);
    rejects({ ...base(), cache: { enabled: 'yes' } }, /"cache.enabled"/);
    rejects({ ...base(), cache: { max: 0 } }, /"cache.max"/);
    rejects({ ...base(), catalog: { host: '', port: 1 } }, /"catalog.host"/);
    rejects({ ...base(), dataDir: 5 }, /"dataDir"/);
    rejects([], /"\(root\)" must be an object/);
  });

  test('the token comes from BAZAAR_TOKEN when set, else from the file', () => {
    assert.equal(parseConfig({ ...base(), token: 'file' }, { configPath: at, env: {} }).token, 'file');
    assert.equal(parseConfig({ ...base(), token: 'file' }, { configPath: at, env: { BAZAAR_TOKEN: 'env' } }).token, 'env');
  });

  test('an open-internals warning is given only without a token and beyond loopback', () => {
    const open = parseConfig({ ...base(), frontend: { host: '10.0.0.5', port: 8000, bind: '0.0.0.0' } }, { configPath: at, env: {} });
    assert.match(openInternalsWarning(open, open.frontend) ?? '', /no cluster token is configured and this role listens on 0\.0\.0\.0/);
    assert.equal(openInternalsWarning(open, open.catalog), undefined, 'the catalog binds 127.0.0.1');
    const locked = parseConfig({ ...base(), frontend: { host: '10.0.0.5', port: 8000, bind: '0.0.0.0' }, token: 't' }, { configPath: at, env: {} });
    assert.equal(openInternalsWarning(locked, locked.frontend), undefined);
  });

  test('resolveConfigPath prefers the flag, then $BAZAAR_CONFIG, then config/bazaar.json', () => {
    assert.equal(resolveConfigPath('/x.json', { BAZAAR_CONFIG: '/y.json' }), '/x.json');
    assert.equal(resolveConfigPath(undefined, { BAZAAR_CONFIG: '/y.json' }), '/y.json');
    assert.equal(resolveConfigPath(undefined, {}), path.resolve('config/bazaar.json'));
  });

  describe('files', () => {
    let dir = '';
    after(() => rm(dir, { recursive: true, force: true }));

    test('a custom stock list is read relative to the config file and validated', async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'bazaar-config-'));
      await writeFile(path.join(dir, 'stocks.json'), JSON.stringify([{ name: 'Obelix', price: 1, quantity: 5 }]));
      await writeFile(path.join(dir, 'bazaar.json'), JSON.stringify({ ...base(), catalog: { host: '127.0.0.1', port: 8001, stocks: 'stocks.json' } }));
      const config = loadConfig(path.join(dir, 'bazaar.json'), {});
      assert.deepEqual(config.catalog.stocks, [{ name: 'Obelix', price: 1, quantity: 5 }]);

      await writeFile(path.join(dir, 'stocks.json'), JSON.stringify([{ name: '../etc', price: 1, quantity: 5 }]));
      assert.throws(() => loadConfig(path.join(dir, 'bazaar.json'), {}), /\[0\].name/);
    });

    test('a missing or malformed file is a clear error', async () => {
      assert.throws(() => loadConfig(path.join(dir, 'nope.json'), {}), /cannot read config file/);
      await writeFile(path.join(dir, 'broken.json'), '{"dataDir": ');
      assert.throws(() => loadConfig(path.join(dir, 'broken.json'), {}), /is not valid JSON/);
    });
  });
});
