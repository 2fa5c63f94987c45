import { read } from 'node:fs';
import { Readable } from 'node:stream';

/** Bytes read per positioned read: Node's default for file streams. */
const CHUNK = 64 * 1024;

/**
 * Bytes `start` to `end` (inclusive) of a descriptor it does not own, read
 * with positioned reads, so any number of these can share one descriptor.
 * Unlike `fs.createReadStream({ fd })`, destroying it never closes the
 * descriptor, and it emits 'close' only once no read is in flight: after
 * 'close' the descriptor may be closed or reused without a read landing on
 * it. A file that ends before `end` is an error, never a short answer
 * passed off as whole.
 */
export function createRangeStream(fd: number, start: number, end: number): Readable {
  let position = start;
  let reading = false;
  let destroyed: (() => void) | undefined;
  return new Readable({
    highWaterMark: CHUNK,
    read(size) {
      const wanted = Math.min(Math.max(size, CHUNK), end - position + 1);
      if (wanted <= 0) {
        this.push(null);
        return;
      }
      reading = true;
      read(fd, Buffer.allocUnsafe(wanted), 0, wanted, position, (error, bytesRead, buffer) => {
        reading = false;
        if (destroyed !== undefined) {
          destroyed();
          return;
        }
        if (error !== null) this.destroy(error);
        else if (bytesRead === 0) this.destroy(new Error(`the file ended at byte ${position}, before byte ${end} its release promised`));
        else {
          position += bytesRead;
          this.push(buffer.subarray(0, bytesRead));
        }
      });
    },
    destroy(error, callback) {
      if (!reading) callback(error);
      else destroyed = () => callback(error);
    },
  });
}
