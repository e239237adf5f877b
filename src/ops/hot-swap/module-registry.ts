import type { LoadedKernel } from '../../dpu/kernels/kernel-loader.js';
import type { ModuleSignature } from './signature.js';

/**
 * Where a module version stands.
 * live: serving on the cores; previous: the version a swap replaced, still loaded for rollback
 * during the grace window; retired: replaced and unloaded; failed: rolled back or refused at
 * commit, unloaded.
 */
export type ModuleStatus = 'live' | 'previous' | 'retired' | 'failed';

/** What the host knows about one loaded module version. */
export interface ModuleRecord {
  /** Its `QT_NAME`. */
  name: string;
  /** Its version, `'major.minor.patch'`. */
  version: string;
  /** Its `QT_ABI`. */
  abi: number;
  /** Its `QT_STATE_LAYOUT`. */
  stateLayout: number;
  /** SHA-256 of its bytes, hex. */
  sha256: string;
  /** Key id of the signature it was admitted with; null for a version the host loaded itself (built-in family). */
  signer: string | null;
  /** That Ed25519 signature (base64), as verified. */
  signature: string | null;
  /** Loader key (LoadedKernel.key). */
  key: number;
  /** Where it stands now. */
  status: ModuleStatus;
}

const HISTORY = 256;

/** The module versions a host has run, newest last (the oldest retired ones are forgotten past HISTORY). */
export class ModuleRegistry {
  private readonly records: ModuleRecord[] = [];

  /** Records a version (a known one keeps its signature and takes the new status). */
  note(kernel: LoadedKernel, signature: ModuleSignature | null, status: ModuleStatus): ModuleRecord {
    const known = this.records.find((r) => r.key === kernel.key);
    if (known) {
      known.status = status;
      return known;
    }
    const i = kernel.info;
    const rec: ModuleRecord = {
      name: i.name,
      version: i.version,
      abi: i.abi,
      stateLayout: i.stateLayout,
      sha256: i.sha256,
      signer: signature?.keyId ?? null,
      signature: signature?.signature ?? null,
      key: kernel.key,
      status,
    };
    this.records.push(rec);
    while (this.records.length > HISTORY) {
      const old = this.records.findIndex((r) => r.status === 'retired' || r.status === 'failed');
      if (old < 0) break;
      this.records.splice(old, 1);
    }
    return rec;
  }

  setStatus(kernel: LoadedKernel, status: ModuleStatus): void {
    const rec = this.records.find((r) => r.key === kernel.key);
    if (rec) rec.status = status;
  }

  list(): ModuleRecord[] {
    return this.records.map((r) => ({ ...r }));
  }
}
