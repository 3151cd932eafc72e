import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BazaarError } from '../../src/core/errors.ts';
import { parseIdempotencyKey, parseKeyedTrade, parseOrderNumber, parseTradeRequest } from '../../src/core/trade.ts';

function refused(parse: () => unknown, pattern: RegExp): void {
  assert.throws(parse, (error: unknown) => error instanceof BazaarError && error.status === 400 && pattern.test(error.message));
}

describe('parsing untrusted trade input', () => {
  test('a well-formed order parses to exactly its three fields', () => {
    assert.deepEqual(parseTradeRequest({ name: 'FishCo', quantity: 3, type: 'sell' }), { name: 'FishCo', quantity: 3, type: 'sell' });
  });

  test('each malformed field is refused with a message naming it', () => {
    refused(() => parseTradeRequest(null), /JSON object/);
    refused(() => parseTradeRequest([1]), /JSON object/);
    refused(() => parseTradeRequest('buy'), /JSON object/);
    refused(() => parseTradeRequest({ quantity: 1, type: 'buy' }), /"name"/);
    refused(() => parseTradeRequest({ name: 7, quantity: 1, type: 'buy' }), /"name"/);
    refused(() => parseTradeRequest({ name: 'A', quantity: 1, type: 'hold' }), /"type"/);
    refused(() => parseTradeRequest({ name: 'A', quantity: 1 }), /"type"/);
    for (const quantity of [0, -1, 1.5, '3', null, 1e9, Number.MAX_SAFE_INTEGER + 2, true]) {
      refused(() => parseTradeRequest({ name: 'A', quantity, type: 'buy' }), /"quantity"/);
    }
    refused(() => parseTradeRequest({ name: 'A', quantity: 1, type: 'buy', price: 3 }), /unknown field "price"/);
    refused(() => parseTradeRequest({ name: 'A', quantity: 1, type: 'buy', __proto__x: 3 }), /unknown field/);
  });

  test('order numbers must be non-negative decimal integers', () => {
    assert.equal(parseOrderNumber('0'), 0);
    assert.equal(parseOrderNumber('42'), 42);
    for (const text of ['-1', '1.5', 'abc', '', '01', '1e3', ' 1', '0x10', '9999999999999999999']) {
      refused(() => parseOrderNumber(text), /not a non-negative integer/);
    }
  });

  test('idempotency keys are 1 to 128 printable characters without spaces', () => {
    assert.equal(parseIdempotencyKey('abc-123_X'), 'abc-123_X');
    for (const key of ['', 'a b', 'x'.repeat(129), 'é', 5, undefined]) refused(() => parseIdempotencyKey(key), /Idempotency-Key/);
  });

  test('a keyed trade between services carries a valid key and a valid trade', () => {
    assert.deepEqual(parseKeyedTrade({ key: 'k', name: 'A', quantity: 1, type: 'buy' }), { key: 'k', name: 'A', quantity: 1, type: 'buy' });
    refused(() => parseKeyedTrade({ name: 'A', quantity: 1, type: 'buy' }), /Idempotency-Key/);
  });
});
