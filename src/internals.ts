/**
 * **Unstable.** The machinery under the SDK, for tools, benchmarks and experiments that need to
 * reach below `qingtian`: host memory and its allocator built by hand, guest-physical address
 * maps, the raw kernel loader and its checks, DPU cores driven directly, guests with vCPU workers
 * and virtio devices, and the simulator's lower layers. Anything here may change or disappear in
 * any release, minor and patch included; import it as `qingtian/internals`.
 *
 * The names here are the ones the stable entry keeps out on purpose: either they expose a layout
 * or protocol that changes with the kernels (region headers, ring reasons, core counters), or the
 * concept is not finished (guests have no VM lifecycle yet; virtio-net/blk will replace the
 * loopback device as the model's devices), or a stable API covers the need (`Host` builds the
 * memory, loader and cores; `runScenario` drives the simulator).
 *
 * @module qingtian/internals
 */

// Host memory and its allocator, built by hand
export { HostMemory, DEFAULT_HOST_MEMORY_BYTES, MAX_HOST_MEMORY_BYTES, PAGE_BYTES } from './memory/host-memory.js';
export { adviseHugePages, hugePageSupport, thpMode } from './memory/huge-pages.js';
export { RegionAllocator } from './memory/region-allocator.js';
export { RegionKinds } from './common/region-kind.js';
export { fourcc, checkHeader } from './common/region-header.js';
export { gpaToHost, writeGuestMap, readGuestMap, type GuestSlot } from './common/gpa.js';

// Kernels: runtimes over any memory, the raw loader and its checks
export { LoaderRuntime } from './dpu/kernels/kernel-runtime.js';
export { KernelLoader } from './dpu/kernels/kernel-loader.js';
export { inspectKernel, KERNEL_ABI } from './common/kernel-image.js';

// DPU cores driven directly
export { DpuCorePool, defaultCoreCount, defaultCoreNice } from './dpu/core/core-pool.js';
export { DpuCore } from './dpu/core/dpu-core.js';
export { CORE_MODES } from './dpu/core/core-layout.js';
export { COUNTER_NAMES } from './dpu/core/core-counters.js';
export { JOB_COUNTER_NAMES } from './dpu/core/job-counters.js';
export { DEFAULT_WEIGHT, MIN_WEIGHT, MAX_WEIGHT, QUANTUM_UNITS } from './dpu/core/fair-share.js';
export { renderMetrics } from './ops/metrics.js';

// Hot swap: the manager built by hand, signature details, audited test traffic
export { HotSwapManager, type HotSwapDeps } from './ops/hot-swap/hot-swap-manager.js';
export { TrustedKeys, sha256Hex, SIGNATURE_FORMAT } from './ops/hot-swap/signature.js';
export { AuditedTraffic, type AuditedTrafficOptions, type TrafficReport } from './ops/hot-swap/audited-traffic.js';

// Guests and virtqueues
export type { GuestMemoryView } from './common/guest-api.js';
export {
  featureWord,
  ringFeatures,
  describeFeatures,
  NO_RING_FEATURES,
  type RingFeatures,
} from './common/virtio/features.js';
export { needEvent } from './common/virtio/ring-layout.js';
export {
  DeviceQueue,
  type DeviceHooks,
  type QueueConfig,
  type QueueSnapshot,
  type QueueStats,
} from './dpu/virtio/device-queue.js';
export {
  VirtioBackend,
  type BackendSpec,
  type BackendStats,
  type NeedsResetEvent,
  type Placement,
  type VringConfig,
} from './dpu/virtio/virtio-backend.js';
export { DeviceStatus } from './dpu/virtio/device-status.js';
export { LoopbackDevice, type LoopbackOptions, type LoopbackStats } from './dpu/virtio/loopback-device.js';
export { BlkDevice, type BlkRequestCounters, type BlkStats } from './dpu/blk/blk-device.js';
export { BlkConfig, type BlkOptions } from './dpu/blk/blk-config.js';
export {
  DEFAULT_TURN_BYTES,
  DEFAULT_TURN_DESCS,
  DESC_WORK_UNITS,
  type TurnLimits,
  type WorkStats,
} from './dpu/virtio/work-budget.js';
export {
  ReferenceDevice,
  echoChain,
  type RefBuf,
  type RefChain,
  type RefMemory,
  type RefQueueConfig,
} from './dpu/virtio/reference-device.js';
export { BROKEN_REASONS, REJECT_REASONS, SETUP_REFUSALS } from './dpu/virtio/queue-state.js';
export { Guest, type GuestOptions } from './hypervisor/guest/guest.js';
export { dirtyPages } from './hypervisor/guest/dirty-log.js';
export { GuestVcpu, DEFAULT_VCPU_NICE, type GuestVcpuOptions, type RttSamples } from './hypervisor/guest/vcpu.js';
export { GuestQueue, type NotifyWords } from './hypervisor/guest/guest-queue.js';
export { VCPU_CLASS_NICE, classNice, type VcpuSchedSpec } from './hypervisor/sched/vcpu-class.js';
export {
  TIMER_PROBE_BYTES,
  histogramQuantile,
  probeBucketRange,
  readProbeBuckets,
  readTimerProbe,
  type TimerProbeReport,
} from './hypervisor/sched/timer-probe.js';
export {
  relocateBackend,
  type GuestKickSites,
  type MovableBackend,
  type RelocationReport,
} from './orchestrator/sched/device-relocation.js';
export { GuestBlkWorkload, type GuestBlkOptions } from './hypervisor/guest/virtio/blk-workload.js';
export {
  LoopbackAudit,
  type AuditReport,
  type GuestCaller,
  type VersionTransition,
} from './hypervisor/guest/loopback-audit.js';
export {
  createDriver,
  SplitDriver,
  PackedDriver,
  type Buf,
  type Completion,
  type DriverOptions,
  type GuestRam,
  type VirtqueueDriver,
} from './hypervisor/guest/virtio/index.js';

// I/O channels: kernels on DPU cores hand blocking work to worker threads
export { IoChannel, type IoChannelOptions, type IoChannelStats } from './dpu/io/io-channel.js';
export { IoWorker, BUILTIN_IO_HANDLERS, type IoWorkerOptions } from './dpu/io/io-worker.js';
export type { IoContext, IoHandler, IoHandlerModule, IoRequest, IoResult } from './dpu/io/io-handler.js';
export { FileOp } from './dpu/io/handlers/file.js';
export { IoProbe, type IoProbeOptions, type IoProbeStats } from './dpu/io/io-probe.js';

// Flow lookups: the reference semantics and text forms
export { normalizeRule, ruleMatches } from './dpu/flow/classifier-rule.js';
export { formatClassBenchRule } from './dpu/flow/classbench.js';
export { parsePrefix4, parsePrefix6 } from './dpu/flow/ip-address.js';

// The simulator's lower layers
export { Simulation, SIM_DEFAULTS, type SimConfig, type SimField } from './netsim/simulation.js';
export { scenarioFlows } from './netsim/scenario.js';
export { ccSetup, type CcSetup, type EcnConfig } from './netsim/cc-config.js';
export { compileNetwork, baseRttPs, type Network } from './netsim/network.js';
export { fatTree, incastStar, dumbbell, leafSpine, parseTopologyFile } from './netsim/topology.js';
export { poissonFlows, incastFlows, meanSize, type FlowSpec } from './netsim/workload.js';
export { slowdownBins, shortFlowSlowdown, jainIndex, percentile, SHORT_FLOW_BYTES } from './netsim/metrics.js';
export { readFlows, readPorts, readSeries, queueSummary } from './netsim/results.js';
export { summaryOf } from './netsim/outputs.js';
export { slowdownSvg } from './netsim/slowdown-chart.js';
export { Prng } from './common/prng.js';

// Storage below host.storage: the SDK objects built by hand, the synchronous volume engine, QoS and NBD pieces
export { Storage } from './dpu/blk/storage.js';
export { StorageVolume, VolumeQueue } from './dpu/blk/storage-volume.js';
export { NbdExportServer } from './dpu/blk/nbd/nbd-export-server.js';
export { NbdServer, isLoopback } from './dpu/blk/nbd/nbd-server.js';
export type { NbdBackend } from './dpu/blk/nbd/nbd-connection.js';
export type { EngineRequest, RequestSink } from './dpu/blk/engine/engine-request.js';
export { Geometry, type GeometryParams } from './dpu/blk/volume/geometry.js';
export { RequestParser, type NbdRequest, type ParseResult } from './dpu/blk/nbd/request-parser.js';
export { Volume, type VolumeOpenOptions } from './dpu/blk/volume/volume.js';
export { initVolumeQueue, type VolumeQueueSetup } from './dpu/blk/engine/queue-client.js';
export { QosScheduler, parseQos, systemClock, type Clock, type QosRequest } from './dpu/blk/qos/qos-scheduler.js';
export { DmClock, type DmClockShare, type DmClockPick } from './dpu/blk/qos/dmclock.js';
export { TokenBucket, Reduction } from './dpu/blk/qos/token-bucket.js';
export { RateLimiter, type RateLimiterSpec } from './dpu/blk/qos/rate-limiter.js';

// The network's data plane under host.network
export { HostNetwork, type NetworkHost } from './dpu/net/host-network.js';
export type { NetDevice, NetDeviceStats, NetQueuePairStats, NetTraffic } from './dpu/net/net-device.js';
export type { NetBackendApi } from './common/virtio/net-backend-api.js';
export type { SwitchStats } from './dpu/net/switch-stats.js';
export type { PortStats as SwitchPortStats } from './dpu/net/vswitch.js';
