import { parentPort, workerData } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { LoaderRuntime } from '../../kernels/kernel-runtime.js';
import { SubMemory } from '../../../memory/sub-memory.js';
import { Volume } from '../volume/volume.js';
import { VolumeStatus } from '../volume/volume-status.js';
import type { EngineRequest, RequestSink } from './engine-request.js';
import { StorageEngine } from './storage-engine.js';
import { NbdServer } from '../nbd/nbd-server.js';
import type { RpcReply, RpcRequest, StorageCalls, StorageWorkerInit, VolumeInfo } from './storage-rpc.js';
import { VOLQ_MAX_LENGTH, VolumeOp } from './volume-queue-layout.js';

/**
 * The storage I/O worker: a worker thread that owns volumes and serves them (engine loop,
 * volume queues for DPU kernels, control calls from the main thread over its message port).
 * Its buffers and kernel tables live in an arena of host memory the control plane gave it.
 */
const init = workerData as StorageWorkerInit;
const memory = new SubMemory(init.memory, init.arenaBase, init.arenaBytes);
const runtime = new LoaderRuntime(memory);
const engine = new StorageEngine(memory);
engine.start();
const nbdServers = new Map<number, NbdServer>();
let nextNbd = 1;

/** Starts an NBD server in this thread, next to the engine: its requests reach volumes with no hop. */
async function serveNbd(a: StorageCalls['serveNbd']['args']): Promise<StorageCalls['serveNbd']['result']> {
  const ids = a.volumes ?? engine.volumeIds();
  const exports = ids.map((id) => {
    const v = engine.volume(id);
    return { name: v.name, description: `qingtian volume ${v.uuid}`, sizeBytes: v.sizeBytes, volumeId: id };
  });
  const server = new NbdServer(engine, exports);
  try {
    const tcp = a.tcp ? await server.listenTcp(a.tcp.host, a.tcp.port) : null;
    const unix = a.unix ? await server.listenUnix(a.unix) : null;
    const id = nextNbd++;
    nbdServers.set(id, server);
    return { id, exports: exports.map((e) => e.name), tcp, unix };
  } catch (e) {
    await server.close();
    throw e;
  }
}

function nbdServer(id: number): NbdServer {
  const s = nbdServers.get(id);
  if (!s) throw new QingtianError(ErrorCode.NotFound, `storage worker: no NBD server ${id}`);
  return s;
}

function info(id: number, v: Volume): VolumeInfo {
  const g = v.geometry;
  return {
    id,
    name: v.name,
    uuid: v.uuid,
    dir: v.dir,
    sizeBytes: v.sizeBytes,
    blockCount: v.blockCount,
    dataDisks: g.dataDisks,
    parityDisks: g.parityDisks,
  };
}

/** One I/O call from the control plane: queued like any other request (QoS applies). */
function io(a: StorageCalls['io']['args']): Promise<StorageCalls['io']['result']> {
  return new Promise((resolve) => {
    const bad = a.offset % 4096 !== 0 || a.length % 4096 !== 0 || a.length > VOLQ_MAX_LENGTH || a.length < 0;
    if (bad || a.op > VolumeOp.WriteZeroes) {
      resolve({ status: VolumeStatus.Invalid, data: null });
      return;
    }
    const v = engine.volume(a.id);
    if (a.offset + a.length > v.sizeBytes) {
      resolve({ status: VolumeStatus.Invalid, data: null });
      return;
    }
    const sink: RequestSink = {
      complete: (_req, status, data) => resolve({ status, data: data ? new Uint8Array(data) : null }),
      endBurst: () => undefined,
    };
    const req: EngineRequest = {
      op: a.op as VolumeOp,
      flags: a.flags,
      lba: a.offset / 4096,
      blocks: a.length / 4096,
      bytes: a.length,
      skew: 0,
      addr: -1,
      heap: a.data ? Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength) : null,
      tag: 0,
      sink,
    };
    engine.submit(a.id, req);
  });
}

async function call(req: RpcRequest): Promise<unknown> {
  const m = req.method;
  switch (m) {
    case 'createVolume': {
      const a = req.args as StorageCalls['createVolume']['args'];
      const v = Volume.create(a.options, { runtime });
      return info(engine.addVolume(v, a.qos), v);
    }
    case 'openVolume': {
      const a = req.args as StorageCalls['openVolume']['args'];
      const v = Volume.open(a.dir, { runtime });
      return info(engine.addVolume(v, a.qos), v);
    }
    case 'closeVolume': {
      const a = req.args as StorageCalls['closeVolume']['args'];
      engine.removeVolume(a.id).close();
      return null;
    }
    case 'stats': {
      const a = req.args as StorageCalls['stats']['args'];
      const v = engine.volume(a.id);
      return {
        id: a.id,
        ...v.stats(),
        qos: engine.qos(a.id),
        queues: engine.queueCounters(a.id),
        latency: engine.latency(a.id),
      };
    }
    case 'setQos': {
      const a = req.args as StorageCalls['setQos']['args'];
      engine.setQos(a.id, a.qos);
      return null;
    }
    case 'loseDisk': {
      const a = req.args as StorageCalls['loseDisk']['args'];
      engine.volume(a.id).loseDisk(a.disk);
      return null;
    }
    case 'replaceDisk': {
      const a = req.args as StorageCalls['replaceDisk']['args'];
      engine.volume(a.id).replaceDisk(a.disk);
      engine.kick();
      return null;
    }
    case 'rebuildProgress':
      return engine.volume((req.args as { id: number }).id).rebuildProgress();
    case 'startScrub': {
      engine.volume((req.args as { id: number }).id).startScrub();
      engine.kick();
      return null;
    }
    case 'scrubReport':
      return engine.volume((req.args as { id: number }).id).scrubReport();
    case 'check': {
      const a = req.args as StorageCalls['check']['args'];
      return engine.volume(a.id).check(a.deep);
    }
    case 'attachQueue': {
      const a = req.args as StorageCalls['attachQueue']['args'];
      engine.attachQueue(a.id, a.base);
      return null;
    }
    case 'detachQueue':
      engine.detachQueue((req.args as { base: number }).base);
      return null;
    case 'io':
      return io(req.args as StorageCalls['io']['args']);
    case 'serveNbd':
      return serveNbd(req.args as StorageCalls['serveNbd']['args']);
    case 'nbdStats':
      return nbdServer((req.args as { id: number }).id).stats();
    case 'stopNbd': {
      const id = (req.args as { id: number }).id;
      await nbdServer(id).close();
      nbdServers.delete(id);
      return null;
    }
    case 'engineCounters':
      return { ...engine.counters };
    case 'shutdown': {
      for (const srv of nbdServers.values()) await srv.close();
      nbdServers.clear();
      await engine.stop();
      for (const id of engine.volumeIds()) engine.removeVolume(id).close();
      engine.free();
      return null;
    }
    default:
      throw new QingtianError(ErrorCode.NotFound, `storage worker: no call ${String(m)}`);
  }
}

parentPort!.on('message', (req: RpcRequest) => {
  call(req).then(
    (result) => {
      const reply: RpcReply = { seq: req.seq, ok: true, result };
      parentPort!.postMessage(reply);
    },
    (e: unknown) => {
      const err =
        e instanceof QingtianError
          ? { code: e.code, message: e.message, details: { ...e.details } }
          : { code: ErrorCode.IoError, message: e instanceof Error ? e.message : String(e), details: {} };
      const reply: RpcReply = { seq: req.seq, ok: false, error: err };
      parentPort!.postMessage(reply);
    },
  );
});
