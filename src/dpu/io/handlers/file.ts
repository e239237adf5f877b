import { open, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { nameString, parseArgs } from '../../../common/validate.js';
import { errnoOf, type IoContext, type IoHandler, type IoRequest, type IoResult } from '../io-handler.js';

/** Ops of the 'file' handler. */
export const FileOp = {
  /** Read `len` bytes at file offset `arg0` into [addr, addr + len); result = bytes read (0 at the end). */
  READ: 1,
  /** Write [addr, addr + len) at file offset `arg0`; result = bytes written. */
  WRITE: 2,
  /** fdatasync: result 0 once data written before it is durable. */
  FLUSH: 3,
} as const;

const dataSchema = z.strictObject({ path: nameString(4096), writable: z.boolean().optional() });

/**
 * The 'file' I/O handler: positional reads and writes of one file through Node's asynchronous
 * file API. The file is opened on the first request, so opening a FIFO waits for its writer in
 * the background like any other request; a FIFO, socket or character device has no positions
 * and is read and written in order (arg0 ignored). Errors complete the request with a negative
 * errno.
 */
export function createHandler(data: unknown, context: IoContext): IoHandler {
  const o = parseArgs(dataSchema, data, "'file' I/O handler data");
  let fh: Promise<{ handle: FileHandle; seekable: boolean }> | null = null;
  const file = (): Promise<{ handle: FileHandle; seekable: boolean }> =>
    (fh ??= (async () => {
      const handle = await open(o.path, o.writable === true ? 'r+' : 'r');
      const st = await handle.stat();
      return { handle, seekable: !(st.isFIFO() || st.isSocket() || st.isCharacterDevice()) };
    })());
  const at = (seekable: boolean, arg0: bigint): number | null => (seekable ? Number(arg0) : null);
  return {
    async handle(r: IoRequest): Promise<IoResult> {
      try {
        switch (r.op) {
          case FileOp.READ: {
            const f = await file();
            const { bytesRead } = await f.handle.read(context.bytes(r.addr, r.len), 0, r.len, at(f.seekable, r.arg0));
            return { result: bytesRead };
          }
          case FileOp.WRITE: {
            const f = await file();
            const buf = context.bytes(r.addr, r.len);
            const { bytesWritten } = await f.handle.write(buf, 0, r.len, at(f.seekable, r.arg0));
            return { result: bytesWritten };
          }
          case FileOp.FLUSH:
            await (await file()).handle.datasync();
            return { result: 0 };
          default:
            return { result: -22 }; // EINVAL: an op this handler does not know
        }
      } catch (e) {
        return { result: errnoOf(e) };
      }
    },
    async close(): Promise<void> {
      if (fh) await (await fh.catch(() => null))?.handle.close();
    },
  };
}
