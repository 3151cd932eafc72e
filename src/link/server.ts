// The serving end of links: a role's HTTP server takes `Upgrade: bazaar-link` on its own port (with
// the cluster token, when one is set), and from then on the connection carries request frames in and
// reply frames out. What a frame asks for is answered by `dispatch`: the same routes, policies and
// limits as over HTTP (http/server.ts). Replies written in one turn of the event loop share a write.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { LINK_FRAME_BYTES_MAX, LINK_KEEP_ALIVE_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { atEndOfTurn } from '../core/turn.ts';
import { tokenMatches } from '../http/token.ts';
import { LINK_PATH, LINK_PROTOCOL, type LinkReply, type LinkRequest, parseLinkRequest } from '../protocol/link.ts';
import { encodeFrame, FrameReader } from './frame.ts';

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

export function serveLinks(server: Server, options: { name: string; token: string | undefined; dispatch: Dispatch; logger: Logger }): LinkServer {
  const links = new Set<Socket>();
  let stopped = false;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (req.url !== LINK_PATH || req.headers.upgrade?.toLowerCase() !== LINK_PROTOCOL) {
      return refuse(socket, 400, 'Bad Request', `only "Upgrade: ${LINK_PROTOCOL}" on ${LINK_PATH} is served`);
    }
    if (options.token !== undefined && !tokenMatches(req.headers.authorization, options.token)) {
      return refuse(socket, 401, 'Unauthorized', 'a link needs the cluster token: Authorization: Bearer <token>');
    }
    if (stopped) return refuse(socket, 503, 'Service Unavailable', `${options.name} is shutting down`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${LINK_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`);
    // An upgraded connection of a node:http server is the TCP socket it arrived on.
    serve(socket as Socket, head);
  });

  function serve(socket: Socket, head: Buffer): void {
    links.add(socket);
    // The server's idle timeout is for HTTP clients; a link stays open while its peer holds it.
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, LINK_KEEP_ALIVE_MS);
    socket.on('close', () => links.delete(socket));
    const reader = new FrameReader(LINK_FRAME_BYTES_MAX);
    let corked = false;
    const send = (reply: LinkReply): void => {
      if (!socket.writable) return;
      if (!corked) {
        corked = true;
        socket.cork();
        atEndOfTurn('send', () => {
          corked = false;
          socket.uncork();
        });
      }
      socket.write(encodeFrame(reply));
    };
    const receive = (chunk: Buffer): void => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (error) {
        options.logger.warn(`${options.name}: closing a link that sent a bad frame (${(error as Error).message})`);
        socket.destroy();
        return;
      }
      for (const { value, bytes } of frames) {
        let request: LinkRequest;
        try {
          request = parseLinkRequest(value);
        } catch (error) {
          options.logger.warn(`${options.name}: closing a link that sent a bad frame (${(error as Error).message})`);
          socket.destroy();
          return;
        }
        void options.dispatch(request, bytes).then(send);
      }
    };
    socket.on('data', receive);
    if (head.length > 0) receive(head);
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
