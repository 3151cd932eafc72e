// `bazaar dashboard` (and `bazaar up`, beside the cluster): one page that watches the cluster live
// over Server-Sent Events, and the token-protected actions it offers. The page's files are served
// from memory (bundled into the executable); the stream sends everything kept on connect, then one
// update per sample.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, findReplica } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import {
  DASHBOARD_HANG_MS_MAX,
  DASHBOARD_LOAD_ITERATIONS_MAX,
  DASHBOARD_LOAD_SESSIONS_MAX,
  DASHBOARD_STREAM_BUFFER_BYTES_MAX,
  DASHBOARD_STREAMS_MAX,
} from '../core/limits.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { Dialer } from '../http/dial.ts';
import { createJsonServer, type RequestContext, type Route } from '../http/server.ts';
import { trustedCa } from '../tls/client.ts';
import { clusterCaFile } from '../tls/material.ts';
import { DASHBOARD_CERT } from '../tls/names.ts';
import { publicListener } from '../tls/server.ts';
import { count, object } from '../protocol/parse.ts';
import type { LoadRequest } from '../protocol/dashboard.ts';
import { Actions } from './actions.ts';
import { pageFiles } from './assets.ts';
import { Collector } from './collector.ts';

export interface DashboardHandle extends Handle {
  readonly address: AddressInfo;
  readonly url: string;
}

/** The page may run scripts and styles only from this origin: no inline script, no CDN. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

function replicaId(config: Config, { params }: RequestContext): number {
  const id = Number(params.id);
  if (!/^\d+$/.test(params.id ?? '')) throw new BazaarError('BAD_REQUEST', 'the replica id must be a positive integer');
  try {
    return findReplica(config, id).id;
  } catch (error) {
    throw new BazaarError('NOT_FOUND', (error as Error).message);
  }
}

async function loadRequest(context: RequestContext): Promise<LoadRequest> {
  const body = object(await context.json(), 'load');
  const p = body.p;
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) throw new BazaarError('BAD_REQUEST', 'field "p" must be a number from 0 to 1');
  const bounded = (field: 'sessions' | 'iterations', max: number): number => {
    const value = count(body[field], field, 1);
    if (value > max) throw new BazaarError('BAD_REQUEST', `field "${field}" must be at most ${max}`);
    return value;
  };
  return { p, sessions: bounded('sessions', DASHBOARD_LOAD_SESSIONS_MAX), iterations: bounded('iterations', DASHBOARD_LOAD_ITERATIONS_MAX) };
}

export interface DashboardOptions {
  /** The CA its load runs check https frontends against (`--ca`); default the cluster's CA, else the system's. */
  readonly caFile?: string | undefined;
}

export async function start(config: Config, logger: Logger = createLogger(), options: DashboardOptions = {}): Promise<DashboardHandle> {
  const { fatal } = fatalSignal();
  // The dashboard reads the roles with its own certificate when the cluster has TLS, and serves its page
  // over HTTPS with the same one (a browser has no certificate of the cluster: its actions need the token).
  const dialer = Dialer.forRole(config, DASHBOARD_CERT, logger);
  const collector = new Collector(config, logger, dialer);
  const caFile = options.caFile ?? clusterCaFile(config);
  const actions = new Actions(config, logger, dialer, caFile === undefined ? undefined : trustedCa(caFile), (event) => collector.note(event), () => collector.latest());
  collector.loadState = () => actions.loadState();
  const files = pageFiles();
  const streams = new Set<ServerResponse>();

  const stream = (req: IncomingMessage, res: ServerResponse): void => {
    if (streams.size >= DASHBOARD_STREAMS_MAX) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' });
      res.end(JSON.stringify({ error: { code: 503, message: `${DASHBOARD_STREAMS_MAX} pages are watching already` } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', ...SECURITY_HEADERS });
    const send = (event: string, data: unknown): void => {
      // A tab that stopped reading (suspended, or a slow link) is dropped rather than buffered without bound.
      if (res.writableLength > DASHBOARD_STREAM_BUFFER_BYTES_MAX) {
        res.destroy();
        return;
      }
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    streams.add(res);
    send('hello', collector.hello());
    const unsubscribe = collector.subscribe((update) => send('update', update));
    const unload = actions.onLoad((state) => send('load', state));
    const end = (): void => {
      streams.delete(res);
      unsubscribe();
      unload();
    };
    req.once('close', end);
    res.once('close', end);
  };

  const fastPath = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' || req.url === undefined) return false;
    const pathname = req.url.split('?')[0]!;
    if (pathname === '/api/stream') {
      stream(req, res);
      return true;
    }
    const file = files[pathname === '/index.html' ? '/' : pathname];
    if (file === undefined) return false;
    res.writeHead(200, { 'content-type': file.type, 'content-length': Buffer.byteLength(file.body), ...SECURITY_HEADERS });
    res.end(file.body);
    return true;
  };

  const routes: Route[] = [
    { method: 'GET', path: '/health', handler: () => ({ body: { data: { role: 'dashboard', status: 'up' } } }) },
    {
      method: 'GET',
      path: '/api/snapshot',
      handler: () => {
        const snapshot = collector.latest();
        if (snapshot === undefined) throw new BazaarError('UPSTREAM_UNAVAILABLE', 'no sample taken yet');
        return { body: { data: snapshot } };
      },
    },
    { method: 'POST', path: '/api/replicas/:id/crash', internal: true, handler: async (context) => ({ body: { data: await actions.crash(replicaId(config, context)) } }) },
    { method: 'POST', path: '/api/replicas/:id/recover', internal: true, handler: async (context) => ({ body: { data: await actions.recover(replicaId(config, context)) } }) },
    { method: 'POST', path: '/api/leader/crash', internal: true, handler: async () => ({ body: { data: await actions.crashLeader() } }) },
    {
      method: 'POST',
      path: '/api/leader/hang',
      internal: true,
      handler: async (context) => {
        const body = object(await context.json(), 'hang');
        const seconds = body.seconds;
        if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0 || seconds * 1000 > DASHBOARD_HANG_MS_MAX) {
          throw new BazaarError('BAD_REQUEST', `field "seconds" must be a number above 0 and at most ${DASHBOARD_HANG_MS_MAX / 1000}`);
        }
        return { body: { data: await actions.hangLeader(seconds) } };
      },
    },
    { method: 'POST', path: '/api/load', internal: true, handler: async (context) => ({ status: 202, body: { data: actions.startLoad(await loadRequest(context)) } }) },
  ];

  const http = createJsonServer({ name: 'dashboard', logger, token: config.token, fastPath, routes, tls: dialer.tls === undefined ? undefined : publicListener(dialer.tls, 'dashboard', logger) });
  await collector.start();
  let address: AddressInfo;
  try {
    address = await http.listen(config.dashboard.bind, config.dashboard.port);
  } catch (error) {
    await collector.stop();
    throw error;
  }
  const host = config.dashboard.host.includes(':') ? `[${config.dashboard.host}]` : config.dashboard.host;
  const url = `${config.dashboard.scheme}://${host}:${address.port}/`;
  logger.info(`dashboard: listening on ${config.dashboard.bind}:${address.port}`);
  return {
    address,
    url,
    fatal,
    close: idempotent(async () => {
      for (const res of streams) res.end();
      await actions.stop();
      await http.close();
      await collector.stop();
    }),
  };
}
