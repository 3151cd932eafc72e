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
  /** Bytes received and not yet part of a whole frame. */
  private buffered: Buffer = Buffer.alloc(0);

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /** The whole frames this chunk completes, as parsed JSON with each frame's size; throws on a bad frame. */
  push(chunk: Buffer): Array<{ value: unknown; bytes: number }> {
    const data = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Array<{ value: unknown; bytes: number }> = [];
    let at = 0;
    while (data.length - at >= HEADER_BYTES) {
      const length = data.readUInt32BE(at);
      if (length > this.frameBytesMax) throw new Error(`a frame of ${length} bytes is larger than ${this.frameBytesMax}`);
      if (data.length - at - HEADER_BYTES < length) break;
      const start = at + HEADER_BYTES;
      frames.push({ value: JSON.parse(data.toString('utf8', start, start + length)), bytes: length });
      at = start + length;
    }
    this.buffered = at === data.length ? Buffer.alloc(0) : data.subarray(at);
    return frames;
  }
}
