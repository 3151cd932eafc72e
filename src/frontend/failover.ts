// The frontend's failover policy: a call to the order leader that finds it gone, hung or no longer
// leading chooses again and retries, under the same idempotency key, so a retry never trades twice.
// Which replica leads is the chooser's business (leader.ts); when to give up on one is this file's.
import { setTimeout as sleep } from 'node:timers/promises';
import { BazaarError } from '../core/errors.ts';
import { FAILOVER_ATTEMPTS_MAX, FAILOVER_RETRY_DELAY_MS, ORDER_CALL_TIMEOUT_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { dataOf, upstreamError, type UpstreamReply } from '../http/client.ts';
import type { Message } from '../protocol/message.ts';
import type { LeaderChooser } from './leader.ts';

/** Sends a request to the order leader, choosing again and retrying when it is gone; its reply parsed, or the leader's refusal thrown (`what` says what was refused). */
export type CallLeader = <Request, Reply>(message: Message<Request, Reply>, request: Request, what: string) => Promise<Reply>;

export function leaderCaller(leaders: LeaderChooser, logger: Logger): CallLeader {
  return async (message, request, what) => {
    const path = message.target(request);
    const body = message.body?.(request);
    let last: BazaarError | undefined;
    for (let attempt = 1; attempt <= FAILOVER_ATTEMPTS_MAX; attempt += 1) {
      const leader = await leaders.current();
      let answer: UpstreamReply | undefined;
      try {
        const reply = await leader.upstream.call(message.method, path, body, { timeoutMs: ORDER_CALL_TIMEOUT_MS });
        // A leader that cannot reach a majority stays leader: wait, then retry the same key there.
        if (reply.errorCode === 'NO_QUORUM') {
          last = upstreamError(reply, `order replica ${leader.id} cannot reach a majority`);
          await sleep(FAILOVER_RETRY_DELAY_MS);
          continue;
        }
        // Only "I do not lead (any more)" means choosing again; any other reply, a 503 because the
        // catalog is down included, is the answer.
        if (reply.errorCode !== 'NOT_LEADER' && reply.errorCode !== 'SHUTTING_DOWN') answer = reply;
        else last = upstreamError(reply, `order replica ${leader.id} does not lead`);
      } catch (error) {
        if (!(error instanceof BazaarError) || error.code !== 'UPSTREAM_UNAVAILABLE') throw error;
        last = error;
      }
      // Parsed outside the try: a refusal the leader passed on (a 503 from the catalog) is the answer, not the leader failing.
      if (answer !== undefined) return message.parseReply(dataOf(answer, what), request);
      if (last === undefined) continue;
      logger.warn(`frontend: order replica ${leader.id} failed (${last.message}); choosing the leader again`);
      // Gone or hung (no reply at all) is suspect for a moment; a replica that answered is not.
      leaders.forget(leader, last.code === 'UPSTREAM_UNAVAILABLE');
    }
    throw new BazaarError('NO_LEADER', `the order service is unavailable (${last?.message ?? 'no attempt'}); retry shortly`, { retryAfterS: 1 });
  };
}
