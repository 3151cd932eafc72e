// The two ends of a declared message (protocol/message.ts): a route that parses the request and
// wraps the reply, and a call that sends the request and parses the reply.
import type { Message } from '../protocol/message.ts';
import { type Caller, type CallOptions, dataOf } from './client.ts';
import type { Reply, Route } from './server.ts';

/** The route serving `message`: internal (it needs the cluster token), its request parsed before `handler` sees it. */
export function serve<Request, Answer>(message: Message<Request, Answer>, handler: (request: Request) => Answer | Promise<Answer>): Route {
  const toReply = (data: Answer): Reply => (message.status === undefined ? { body: { data } } : { status: message.status, body: { data } });
  return {
    method: message.method,
    path: message.path,
    internal: true,
    ...(message.bodyBytesMax === undefined ? {} : { bodyBytesMax: message.bodyBytesMax }),
    // A GET stays synchronous when its handler is: a lookup costs no extra turn.
    handler:
      message.method === 'GET'
        ? (context) => {
            const answer = handler(message.parseRequest({ params: context.params, query: context.query, body: undefined }));
            return answer instanceof Promise ? answer.then(toReply) : toReply(answer);
          }
        : async (context) => toReply(await handler(message.parseRequest({ params: context.params, query: context.query, body: await context.json() }))),
  };
}

/** Sends `request` as `message` and parses the reply; a refusal throws the upstream's error, `what` saying what was refused. */
export async function send<Request, Answer>(caller: Caller, message: Message<Request, Answer>, request: Request, what: string, options?: CallOptions): Promise<Answer> {
  const reply = await caller.call(message.method, message.target(request), message.body?.(request), options);
  return message.parseReply(dataOf(reply, what, message.status), request);
}
