/**
 * qingtian SDK. See README.md for the architecture and docs/api.md for the reference.
 */
import './orchestrator/default-runtime.js';

export { Host, type HostOptions } from './orchestrator/host.js';
export { defaultRuntime, LoaderRuntime, type KernelRuntime } from './dpu/kernel-runtime.js';
export { HostMemory, DEFAULT_HOST_MEMORY_BYTES, MAX_HOST_MEMORY_BYTES, type HostMemoryOptions } from './hypervisor/host-memory.js';
export { RegionAllocator, PAGE_BYTES, type AllocatorStats } from './hypervisor/region-allocator.js';
export type { Region, StateRegion, AllocRequest, StateAllocRequest, HostMemoryApi } from './common/host-memory-api.js';
export { RegionKinds, type RegionKind } from './common/region-kind.js';
export { HDR_BYTES, fourcc, checkHeader } from './common/region-header.js';
export { gpaToHost, writeGuestMap, readGuestMap, GMAP_BYTES, GMAP_MAGIC, GMAP_LAYOUT, type GuestSlot } from './common/gpa.js';
export { QingtianError, ErrorCode, isQingtianError } from './common/errors.js';
export { KernelLoader, type LoadedKernel } from './dpu/kernel-loader.js';
export { inspectKernel, KERNEL_ABI, type KernelImageInfo } from './dpu/kernel-image.js';
export { DpuCorePool, defaultCoreCount, type DpuOptions } from './dpu/core-pool.js';
export { DpuCore, type Job, type JobFailure, type JobFailedEvent } from './dpu/dpu-core.js';
export { CORE_MODES, type CoreMode, type CoreRunState } from './dpu/core-layout.js';
export { COUNTER_NAMES, type CoreCounters } from './dpu/core-counters.js';
export { renderMetrics, type MetricsSnapshot } from './ops/metrics.js';
export { relaxedSimdSupported, SIMD_CHOICES, type SimdChoice, type SimdFlavour } from './dpu/kernel-flavour.js';
export { ReedSolomon, type ReedSolomonOptions } from './dpu/ec/reed-solomon.js';
export { MATRIX_KINDS, type MatrixKind } from './dpu/ec/matrices.js';
export { isalRsMaxDataShards } from './dpu/ec/isal-rs-limits.js';
export type { DecodePlan } from './dpu/ec/decode-plans.js';
export { EcOffload, type EcOffloadOptions, type OffloadResult } from './dpu/ec/ec-offload.js';
export { crc16t10dif, crc16t10difAt, type CrcOptions } from './dpu/dif/crc16.js';
export { T10Dif, type DifTag, type DifFailure, type DifVerifyResult, type DifVerifyCopyResult } from './dpu/dif/t10-dif.js';
export { DIF_BLOCK_SIZES, type T10DifOptions, type DifChecks, type DifConfig } from './dpu/dif/dif-config.js';
