// Frames on a link: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. The reader
// takes the stream in whatever chunks TCP delivers and hands back whole values; a frame longer than
// its bound, or one that is not JSON, is an error the caller answers by closing the connection.

const HEADER_BYTES = 4;

export function encodeFrame(value: unknown): Buffer {
  const json = JSON.stringify(value);
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, HEADER_BYTES, 'utf8');
  return frame;
}

export class FrameReader {
  private readonly frameBytesMax: number;
  /** Bytes received and not yet part of a whole frame, as they came (joined only once a frame is whole). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the frame being received needs, header included, once its header is known. */
  private needed = HEADER_BYTES;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /** The whole frames this chunk completes, as parsed JSON with each frame's size; throws on a bad frame. */
  push(chunk: Buffer): Array<{ value: unknown; bytes: number }> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // A large frame comes in many chunks: wait for all of them rather than join them again at each.
    if (this.pendingBytes < this.needed) return [];
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const frames: Array<{ value: unknown; bytes: number }> = [];
    let at = 0;
    this.needed = HEADER_BYTES;
    while (data.length - at >= HEADER_BYTES) {
      const length = data.readUInt32BE(at);
      if (length > this.frameBytesMax) throw new Error(`a frame of ${length} bytes is larger than ${this.frameBytesMax}`);
      if (data.length - at - HEADER_BYTES < length) {
        this.needed = HEADER_BYTES + length;
        break;
      }
      const start = at + HEADER_BYTES;
      frames.push({ value: JSON.parse(data.toString('utf8', start, start + length)), bytes: length });
      at = start + length;
    }
    const rest = at === data.length ? undefined : data.subarray(at);
    this.pending = rest === undefined ? [] : [rest];
    this.pendingBytes = rest?.length ?? 0;
    return frames;
  }
}
