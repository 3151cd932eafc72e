// What both ends of a link do with its socket: keep it open for as long as the peer holds it, read
// whole frames off it (a frame that is not what this end expects closes the link), and write frames
// at the end of the turn (core/turn.ts), so that every frame of a turn leaves in one write.
import type { Socket } from 'node:net';
import { LINK_FRAME_BYTES_MAX, LINK_KEEP_ALIVE_MS } from '../core/limits.ts';
import { atEndOfTurn } from '../core/turn.ts';
import { FrameReader } from './frame.ts';

export interface FrameHandlers<T> {
  /** The frame as this end's message; throws if it is not one. */
  parse(value: unknown): T;
  receive(message: T, bytes: number): void;
  /** A frame that could not be read or parsed; the link is closed after this. */
  bad(error: Error): void;
}

/** Takes over an upgraded socket (`head`: what came with the upgrade); returns how to send an encoded frame. */
export function frameSocket<T>(socket: Socket, head: Buffer, handlers: FrameHandlers<T>): (frame: Buffer) => void {
  // The server's idle timeout is for HTTP clients; a link stays open while its peer holds it.
  socket.setTimeout(0);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, LINK_KEEP_ALIVE_MS);
  const reader = new FrameReader(LINK_FRAME_BYTES_MAX);
  const receive = (chunk: Buffer): void => {
    let frames;
    try {
      frames = reader.push(chunk);
    } catch (error) {
      handlers.bad(error as Error);
      socket.destroy();
      return;
    }
    for (const { value, bytes } of frames) {
      let message: T;
      try {
        message = handlers.parse(value);
      } catch (error) {
        handlers.bad(error as Error);
        socket.destroy();
        return;
      }
      handlers.receive(message, bytes);
    }
  };
  socket.on('data', receive);
  if (head.length > 0) receive(head);
  let corked = false;
  return (frame) => {
    if (!socket.writable) return;
    if (!corked) {
      corked = true;
      socket.cork();
      atEndOfTurn('send', () => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
  };
}
