// The one entry point: wires commander to the roles. Nothing here decides anything.
import { Command, InvalidArgumentError, Option } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import * as admin from '../src/admin/index.ts';
import * as catalog from '../src/catalog/index.ts';
import * as client from '../src/client/index.ts';
import * as dashboard from '../src/dashboard/server.ts';
import { initDisks } from '../src/disk/init.ts';
import { baseUrl, type Config, loadConfig, parseStocks, resolveConfigPath } from '../src/core/config.ts';
import { ConfigError } from '../src/core/errors.ts';
import { type Handle, idempotent, runUntilSignal } from '../src/core/lifecycle.ts';
import { CACHE_ENTRIES_MAX, CERT_CA_DAYS_DEFAULT, CERT_DAYS_MAX, CERT_ROLE_DAYS_DEFAULT, CLIENT_DURATION_S_MAX, CLIENT_ITERATIONS_MAX, CLIENT_SESSIONS_MAX, CLIENT_SKEW_MAX, FRONTENDS_MAX, REPLICA_ID_MAX } from '../src/core/limits.ts';
import { createLogger } from '../src/core/logger.ts';
import * as frontend from '../src/frontend/index.ts';
import * as order from '../src/order/index.ts';
import * as up from '../src/up/index.ts';
import { formatCertsReport, makeCerts } from '../src/tls/certs.ts';
import { trustedCa } from '../src/tls/client.ts';
import { clusterCaFile } from '../src/tls/material.ts';
import path from 'node:path';
import defaultStocks from '../config/stocks.json' with { type: 'json' };

const logger = createLogger();

function integer(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || value < min || value > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return value;
  };
}

function probability(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw new InvalidArgumentError('must be a number from 0 to 1');
  return value;
}

function skewExponent(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > CLIENT_SKEW_MAX) throw new InvalidArgumentError(`must be a number from 0 to ${CLIENT_SKEW_MAX}`);
  return value;
}

function configOption(): Option {
  return new Option('-c, --config <file>', 'shared config file (default: $BAZAAR_CONFIG, else config/bazaar.json)');
}

function readConfig(flag: string | undefined): Config {
  return loadConfig(resolveConfigPath(flag));
}

/** Runs a command body; a failure to start is one clear line on stderr and a non-zero exit. */
function action<A extends unknown[]>(name: string, body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await body(...args);
    } catch (error) {
      process.stderr.write(`bazaar ${name}: ${(error as Error).message}\n`);
      process.exit(error instanceof ConfigError ? 2 : 1);
    }
  };
}

const program = new Command()
  // Usage errors (an unknown flag, a bad value, a missing argument) exit 2, as the README's exit-status table says; --help
  // and --version exit 0. Subcommands inherit this.
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : 2);
  })
  .name('bazaar')
  .description('Stock Bazaar: a replicated, cached, crash-proof stock-trading service. One executable runs every role.')
  .version(packageJson.version)
  .showHelpAfterError('(run with --help for usage)');

program
  .command('catalog')
  .description('run the catalog: stock prices, quantities and volumes, durable on disk')
  .addOption(configOption())
  .action(
    action('catalog', async (options: { config?: string }) => {
      const handle = await catalog.start(readConfig(options.config), logger);
      await runUntilSignal('catalog', handle, logger);
    }),
  );

program
  .command('order')
  .description('run order replica N: assigns transaction numbers and keeps the append-only order log')
  .requiredOption('--id <n>', 'which replica of the config to run', integer(1, REPLICA_ID_MAX))
  .addOption(configOption())
  .action(
    action('order', async (options: { id: number; config?: string }) => {
      const handle = await order.start(readConfig(options.config), options.id, logger);
      await runUntilSignal(`order ${options.id}`, handle, logger);
    }),
  );

program
  .command('init')
  .description('initialise the disks of a new cluster\'s order replicas (an identity, an empty log, a first state) before their first start; `up` does this itself for a new cluster. Never for a lost disk: a replica started on an empty disk recovers from its peers')
  .option('--id <n...>', 'only these replicas (those whose data folder is on this host); default every replica of the config')
  .addOption(configOption())
  .action(
    action('init', async (options: { id?: string[]; config?: string }) => {
      const config = readConfig(options.config);
      const parse = integer(1, REPLICA_ID_MAX);
      let ids: number[];
      try {
        ids = options.id === undefined ? config.orders.map((replica) => replica.id) : options.id.map((text) => parse(text));
      } catch (error) {
        throw new ConfigError(`--id ${(error as Error).message}`);
      }
      await initDisks(config, ids);
      process.stdout.write(`initialised the disks of order replica${ids.length === 1 ? '' : 's'} ${ids.join(', ')} of cluster "${config.cluster}" in ${config.dataDir}\n`);
    }),
  );

program
  .command('certs')
  .description('make the cluster\'s TLS certificates: its CA (once), and a certificate for every role of the config (catalog, order-N, frontend-N, dashboard, admin, prometheus), named for its host')
  .option('--dir <folder>', 'where to write them (default: the config\'s tls.dir, else certs/ beside the config)')
  .option('--only <names...>', 'only these certificates, signed by the CA already in the folder (to replace one role\'s)')
  .option('--days <n>', `how long the role certificates are valid (default ${CERT_ROLE_DAYS_DEFAULT})`, integer(1, CERT_DAYS_MAX), CERT_ROLE_DAYS_DEFAULT)
  .option('--ca-days <n>', `how long a new CA is valid (default ${CERT_CA_DAYS_DEFAULT})`, integer(1, CERT_DAYS_MAX), CERT_CA_DAYS_DEFAULT)
  .addOption(configOption())
  .addHelpText('after', '\nThen set "tls": {"dir": "certs"} in the config (or BAZAAR_TLS_DIR), and give each host ca.crt and its own role\'s .crt and .key.\nThe CA\'s key (ca.key) stays with you: it signs new certificates. docs/security.md walks through it.')
  .action(
    action('certs', async (options: { dir?: string; only?: string[]; days: number; caDays: number; config?: string }) => {
      const config = readConfig(options.config);
      const dir = path.resolve(options.dir ?? config.tls?.dir ?? path.join(path.dirname(config.configPath), 'certs'));
      const report = await makeCerts(config, { dir, only: options.only, days: options.days, caDays: options.caDays });
      process.stdout.write(formatCertsReport(report));
    }),
  );

interface CacheFlags {
  cache?: boolean;
  cacheSize?: number;
}

/** `--cache`/`--no-cache` and `--cache-size`: both unset unless given, so the config decides by default. */
function addCacheOptions(command: Command): Command {
  return command
    .option('--cache', 'cache lookups even if the config turns caching off')
    .option('--no-cache', 'do not cache lookups (every lookup goes to the catalog), whatever the config says')
    .option('--cache-size <n>', 'entries the cache holds at most (overrides cache.max)', integer(1, CACHE_ENTRIES_MAX));
}

function cacheArgs(flags: CacheFlags): string[] {
  return [...(flags.cache === undefined ? [] : [flags.cache ? '--cache' : '--no-cache']), ...(flags.cacheSize === undefined ? [] : ['--cache-size', String(flags.cacheSize)])];
}

addCacheOptions(
  program
    .command('frontend')
    .description('run the public REST gateway (GET /stocks/{name}, POST /orders, GET /orders/{number}) with its LRU cache of lookups'),
)
  .option('--index <n>', 'which frontend of the config\'s "frontends" list this is, from 1', integer(1, FRONTENDS_MAX), 1)
  .addOption(configOption())
  .action(
    action('frontend', async (options: CacheFlags & { config?: string; index: number }) => {
      const handle = await frontend.start(readConfig(options.config), logger, { cacheEnabled: options.cache, cacheMax: options.cacheSize, index: options.index });
      await runUntilSignal('frontend', handle, logger);
    }),
  );

program
  .command('client')
  .description('drive the service: each session looks up a random stock, trades it with probability p, and verifies every order it placed')
  .option('--p <probability>', 'probability of a trade after each lookup', probability, 0.4)
  .option('--iterations <n>', 'lookups per session', integer(1, CLIENT_ITERATIONS_MAX), 100)
  .option('--duration <seconds>', 'stop starting new iterations after this long (the orders placed are still verified)', integer(1, CLIENT_DURATION_S_MAX))
  .option('--clients <n>', 'concurrent sessions', integer(1, CLIENT_SESSIONS_MAX), 5)
  .option('--frontend <urls>', 'frontend to drive, or several separated by commas: sessions are spread over them and a retry goes to the next (default: every frontend of the config)')
  .option('--seed <n>', 'seed of the random choices, to replay a run (default: random, printed)', integer(0, 2 ** 32 - 1))
  .option('--skew <s>', 'Zipf exponent of the choice of stock, the config\'s first stock the most popular (0: uniform)', skewExponent, 0)
  .option('--json <file>', 'also write the report as JSON to this file')
  .option('--ca <file>', 'trust this CA for https frontends (default: the config\'s cluster CA when it has "tls", else the system\'s)')
  .addOption(configOption())
  .addHelpText('after', '\nCtrl-C (SIGINT) stops starting new iterations and verifies the orders placed so far; a second one quits at once.\nExit code: 0 when every request succeeded and every order read back as sent, 1 otherwise, 2 for a usage or config error.')
  .action(
    action(
      'client',
      async (options: { p: number; iterations: number; duration?: number; clients: number; frontend?: string; seed?: number; skew: number; json?: string; ca?: string; config?: string }) => {
        // The config supplies the frontend address and stock list; with --frontend and no config
        // file the default stock list is used.
        let config: Config | undefined;
        try {
          config = readConfig(options.config);
        } catch (error) {
          if (options.frontend === undefined || options.config !== undefined) throw error;
        }
        const stocks = (config?.catalog.stocks ?? parseStocks(defaultStocks, 'the default stock list')).map((stock) => stock.name);
        const frontendUrls = (options.frontend?.split(',') ?? config!.frontends.map((endpoint) => baseUrl(endpoint))).map((text) => {
          try {
            return new URL(text.trim()).origin;
          } catch {
            throw new ConfigError(`--frontend ${JSON.stringify(text)} is not a URL like http://127.0.0.1:8000 (or https://…)`);
          }
        });
        // The first SIGINT ends the sessions as --duration does (the orders placed are still
        // verified); a second one quits with the usual 130.
        const stop = new AbortController();
        const onInterrupt = (): void => {
          if (stop.signal.aborted) process.exit(130);
          process.stderr.write('\nclient: stopping; verifying the orders placed (Ctrl-C again to quit now)\n');
          stop.abort();
        };
        process.on('SIGINT', onInterrupt);
        // --duration aborts the same controller from a plain timer. Not AbortSignal.any() over
        // AbortSignal.timeout(): on Node 20 the timeout signal inside it can be garbage-collected
        // before it fires (nodejs/node#57736), and a 14 s run then never ends.
        const deadline = options.duration === undefined ? undefined : setTimeout(() => stop.abort(), options.duration * 1000);
        const caFile = options.ca ?? (config === undefined ? undefined : clusterCaFile(config));
        const report = await client.run({
          frontend: frontendUrls,
          tls: caFile === undefined ? undefined : trustedCa(caFile),
          p: options.p,
          iterations: options.iterations,
          clients: options.clients,
          seed: options.seed ?? Math.floor(Math.random() * 2 ** 32),
          skew: options.skew,
          stocks,
          progress: process.stderr,
          signal: stop.signal,
        });
        clearTimeout(deadline);
        process.off('SIGINT', onInterrupt);
        process.stdout.write(client.formatReport(report));
        if (options.json !== undefined) await client.writeReport(options.json, report);
        process.exitCode = report.ok ? 0 : 1;
      },
    ),
  );

const adminCommand = program
  .command('admin')
  .description('operate a running cluster: status, crash and recover order replicas');

adminCommand
  .command('status')
  .description('show each role: up or down; for replicas: leader, follower or recovering a lost disk, epoch, last order, log size (exit 1 if any role is down or any replica is recovering)')
  .option('--json', 'print the status as JSON, for scripts')
  .addOption(configOption())
  .action(
    action('admin status', async (options: { json?: boolean; config?: string }) => {
      const cluster = await admin.status(readConfig(options.config));
      process.stdout.write(options.json === true ? `${JSON.stringify(cluster, null, 2)}\n` : admin.formatStatus(cluster));
      // A role down or a replica recovering a lost disk is a fault found: exit 1 (the table above says which).
      process.exitCode = admin.healthy(cluster) ? 0 : 1;
    }),
  );

adminCommand
  .command('crash')
  .description('crash order replica N for real: it sends itself SIGKILL (no flush, no cleanup)')
  .requiredOption('--id <n>', 'which replica', integer(1, REPLICA_ID_MAX))
  .addOption(configOption())
  .action(
    action('admin crash', async (options: { id: number; config?: string }) => {
      await admin.crash(readConfig(options.config), options.id);
      process.stdout.write(`order replica ${options.id} crashed\n`);
    }),
  );

adminCommand
  .command('recover')
  .description('start order replica N again under the local `bazaar up`; it reads its log and catches up from the leader')
  .requiredOption('--id <n>', 'which replica', integer(1, REPLICA_ID_MAX))
  .addOption(configOption())
  .addHelpText('after', '\nWithout `bazaar up` (one systemd unit per role), run on the replica\'s host: systemctl start bazaar-order@N')
  .action(
    action('admin recover', async (options: { id: number; config?: string }) => {
      const pid = await admin.recover(readConfig(options.config), options.id);
      process.stdout.write(`order replica ${options.id} is back (pid ${pid}); it catches up from the leader\n`);
    }),
  );

program
  .command('dashboard')
  .description('serve the live dashboard of a running cluster (any cluster of this config, local or on several hosts)')
  .option('--ca <file>', 'the CA its load runs check https frontends against (default: the config\'s cluster CA when it has "tls", else the system\'s)')
  .addOption(configOption())
  .addHelpText('after', '\nIt listens where the config\'s "dashboard" key says (default 127.0.0.1:8080). `bazaar up` serves it too.')
  .action(
    action('dashboard', async (options: { config?: string; ca?: string }) => {
      const handle = await dashboard.start(readConfig(options.config), logger, { caFile: options.ca });
      process.stdout.write(`Stock Bazaar dashboard: ${handle.url}\n`);
      await runUntilSignal('dashboard', handle, logger);
    }),
  );

addCacheOptions(
  program
    .command('up')
    .description('run the whole cluster of the config on this machine: catalog, every order replica and the frontend, as child processes, and its live dashboard'),
)
  .option('--no-dashboard', 'do not serve the dashboard')
  .option('--restart-replicas', 'restart an order replica killed by a signal too (the catalog and frontend always are); by default replicas wait for `bazaar admin recover`')
  .addOption(configOption())
  .action(
    action('up', async (options: CacheFlags & { config?: string; dashboard: boolean; restartReplicas?: boolean }) => {
      const configPath = resolveConfigPath(options.config);
      const config = loadConfig(configPath);
      const cluster = await up.start(config, { configPath, frontendArgs: cacheArgs(options), restartReplicas: options.restartReplicas === true }, logger);
      let board: dashboard.DashboardHandle | undefined;
      try {
        if (options.dashboard) board = await dashboard.start(config, logger);
      } catch (error) {
        await cluster.close();
        throw new Error(`the dashboard cannot listen on ${config.dashboard.bind}:${config.dashboard.port} (${(error as Error).message}); place it with the config's "dashboard" key, or pass --no-dashboard`);
      }
      const handle: Handle = {
        fatal: cluster.fatal,
        close: idempotent(async () => {
          await board?.close();
          await cluster.close();
        }),
        kill: () => cluster.kill?.(),
      };
      const api = baseUrl(config.frontend);
      const apis = config.frontends.map((endpoint) => baseUrl(endpoint)).join(', ');
      const configFlag = options.config === undefined ? '' : ` --config ${options.config}`;
      process.stdout.write(
        [
          '',
          `Stock Bazaar is up: catalog, order replicas ${config.orders.map((r) => r.id).join(', ')}, ${config.frontends.length === 1 ? 'frontend' : `${config.frontends.length} frontends`}.`,
          `  leader:    ${cluster.leader === undefined ? 'none chosen yet (the first trade chooses one)' : `order replica ${cluster.leader.id}, epoch ${cluster.leader.epoch}`}`,
          `  API:       ${apis}   (try: curl ${api}/stocks/GameStart)`,
          `  dashboard: ${board === undefined ? 'off (--no-dashboard)' : board.url}`,
          `  pids:      ${Object.entries(cluster.pids()).map(([name, pid]) => `${name} ${pid}`).join(', ')}`,
          `  load:      npx bazaar client --p 0.4 --iterations 200 --clients 5${configFlag}`,
          `  data:      ${config.dataDir}`,
          '  Ctrl-C stops every role; a second Ctrl-C forces it.',
          '',
        ].join('\n'),
      );
      await runUntilSignal('up', handle, logger);
    }),
  );

await program.parseAsync(process.argv);
