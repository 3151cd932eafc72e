// G5 on the trade's own frontend, now that the catalog does not wait for it: the stock's version
// rides back on the leader's reply, and the frontend must apply it before it answers. The push that
// would have told it too is held back here (it may arrive late), so only the reply can keep the
// cache honest. Real cache, real handler; the leader's reply is given.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StockCache } from '../../src/frontend/cache.ts';
import type { LeaderChooser } from '../../src/frontend/leader.ts';
import { frontendRoutes } from '../../src/frontend/routes.ts';
import type { CallLeader } from '../../src/frontend/failover.ts';
import type { Upstream } from '../../src/http/client.ts';
import { Metrics } from '../../src/http/metrics.ts';
import type { RequestContext } from '../../src/http/server.ts';

const stock = { name: 'GameStart', price: 15.99, quantity: 100, volume: 0 };

describe('a trade through this frontend', () => {
  test('drops the stock\'s cached copy before it answers, and takes no older copy afterwards', async () => {
    let now = 1_000;
    const cache = new StockCache({ enabled: true, max: 10, now: () => now });
    cache.apply({ from: -2, to: 0, invalidations: [{ name: 'GameStart', version: 3 }], leaseUntil: now + 10_000 });
    cache.fill(stock, 3);
    assert.ok(cache.get('GameStart') !== undefined, 'cached before the trade');

    const sent: unknown[] = [];
    // The leader's reply, parsed as the frontend's own declaration of the message parses it.
    const callLeader: CallLeader = async (message, request) => {
      sent.push(message.body?.(request));
      return message.parseReply({ transaction_number: 7, version: 4 }, request);
    };
    const routes = frontendRoutes({ origin: '127.0.0.1:8000', cache, catalog: {} as Upstream, leaders: {} as LeaderChooser, callLeader, metrics: new Metrics() });
    const placeOrder = routes.find((route) => route.method === 'POST' && route.path === '/orders')!.handler;
    const context = { headers: {}, params: {}, query: new URLSearchParams(), json: async () => ({ name: 'GameStart', quantity: 1, type: 'buy' }) } as RequestContext;
    const reply = await placeOrder(context);

    assert.deepEqual(reply.body, { data: { transaction_number: 7 } }, 'the public reply keeps the lab\'s shape');
    assert.equal((sent[0] as { origin?: string }).origin, '127.0.0.1:8000', 'the trade names its frontend');
    now += 1;
    assert.equal(cache.get('GameStart'), undefined, 'no lookup after the answer sees the stock from before the trade');
    cache.fill(stock, 3);
    assert.equal(cache.get('GameStart'), undefined, 'a lookup that read the old value before the trade cannot put it back');
  });
});
