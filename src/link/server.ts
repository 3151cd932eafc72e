// The serving end of links: a role's HTTP server takes `Upgrade: bazaar-link` on its own port (with
// the cluster token, when one is set), and from then on the connection carries request frames in and
// reply frames out. What a frame asks for is answered by `dispatch`: the same routes, policies and
// limits as over HTTP (http/server.ts). Replies written in one turn of the event loop share a write.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.ts';
import { tokenMatches } from '../http/token.ts';
import { LINK_PATH, LINK_PROTOCOL, type LinkReply, type LinkRequest, parseLinkRequest } from '../protocol/link.ts';
import { encodeFrame } from './frame.ts';
import { frameSocket } from './socket.ts';

/** Answers one request frame; never rejects (an error is a reply with its status and code). */
export type Dispatch = (request: LinkRequest, bytes: number) => Promise<LinkReply>;

export interface LinkServer {
  /** Refuses new links from now on. */
  stop(): void;
  /** Closes every link. */
  closeAll(): void;
}

function refuse(socket: Duplex, status: number, reason: string, message: string): void {
  const body = JSON.stringify({ error: { code: status, message } });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

export interface LinkServerOptions {
  readonly name: string;
  readonly token: string | undefined;
  readonly dispatch: Dispatch;
  readonly logger: Logger;
  /** With the cluster's TLS: whether the connection's peer proved it is a role of the cluster. */
  readonly admit?: ((socket: Socket) => boolean) | undefined;
}

export function serveLinks(server: Server, options: LinkServerOptions): LinkServer {
  const links = new Set<Socket>();
  let stopped = false;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (req.url !== LINK_PATH || req.headers.upgrade?.toLowerCase() !== LINK_PROTOCOL) {
      return refuse(socket, 400, 'Bad Request', `only "Upgrade: ${LINK_PROTOCOL}" on ${LINK_PATH} is served`);
    }
    if (options.admit !== undefined && !options.admit(req.socket)) {
      return refuse(socket, 403, 'Forbidden', 'a link is for the roles of the cluster: connect with a certificate signed by its CA');
    }
    if (options.token !== undefined && !tokenMatches(req.headers.authorization, options.token)) {
      return refuse(socket, 401, 'Unauthorized', 'a link needs the cluster token: Authorization: Bearer <token>');
    }
    if (stopped) return refuse(socket, 503, 'Service Unavailable', `${options.name} is shutting down`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${LINK_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`);
    // An upgraded connection of a node:http server is the socket it arrived on (TCP, or TLS over it).
    serve(socket as Socket, head);
  });

  function serve(socket: Socket, head: Buffer): void {
    links.add(socket);
    socket.on('close', () => links.delete(socket));
    const send = frameSocket(socket, head, {
      parse: parseLinkRequest,
      receive: (request, bytes) => void options.dispatch(request, bytes).then((reply) => send(encodeFrame(reply))),
      bad: (error) => options.logger.warn(`${options.name}: closing a link that sent a bad frame (${error.message})`),
    });
  }


  return {
    stop: () => {
      stopped = true;
    },
    closeAll: () => {
      for (const socket of links) socket.destroy();
      links.clear();
    },
  };
}
