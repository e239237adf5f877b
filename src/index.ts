/**
 * qingtian SDK. See README.md for the architecture and docs/api.md for the reference.
 */

export { Host, type HostOptions } from './orchestrator/host.js';
export { defaultRuntime, LoaderRuntime, type KernelRuntime } from './dpu/kernels/kernel-runtime.js';
export {
  HostMemory,
  DEFAULT_HOST_MEMORY_BYTES,
  MAX_HOST_MEMORY_BYTES,
  type HostMemoryOptions,
} from './memory/host-memory.js';
export { adviseHugePages, hugePageSupport, thpMode, type HugePageStatus, type ThpMode } from './memory/huge-pages.js';
export { RegionAllocator, PAGE_BYTES, type AllocatorStats } from './memory/region-allocator.js';
export type { Region, StateRegion, AllocRequest, StateAllocRequest, HostMemoryApi } from './common/host-memory-api.js';
export { RegionKinds, type RegionKind } from './common/region-kind.js';
export { HDR_BYTES, fourcc, checkHeader } from './common/region-header.js';
export {
  gpaToHost,
  writeGuestMap,
  readGuestMap,
  GMAP_BYTES,
  GMAP_MAGIC,
  GMAP_LAYOUT,
  type GuestSlot,
} from './common/gpa.js';
export { QingtianError, ErrorCode, isQingtianError } from './common/errors.js';
export { KernelLoader, type LoadedKernel } from './dpu/kernels/kernel-loader.js';
export { inspectKernel, KERNEL_ABI, type KernelImageInfo } from './common/kernel-image.js';
export {
  DpuCorePool,
  defaultCoreCount,
  defaultCoreNice,
  type CorePriority,
  type DpuOptions,
} from './dpu/core/core-pool.js';
export {
  DpuCore,
  type Job,
  type JobFailure,
  type JobFailedEvent,
  type JobRolledBackEvent,
  type SwapTransform,
  type SwapCommit,
} from './dpu/core/dpu-core.js';
export { CORE_MODES, type CoreMode, type CoreRunState } from './dpu/core/core-layout.js';
export { COUNTER_NAMES, type CoreCounters } from './dpu/core/core-counters.js';
export { JOB_COUNTER_NAMES, type JobCounters, type JobCounterName } from './dpu/core/job-counters.js';
export { DEFAULT_WEIGHT, MIN_WEIGHT, MAX_WEIGHT, QUANTUM_UNITS } from './dpu/core/fair-share.js';
export type { PauseTrace } from './dpu/core/pause-trace.js';
export { renderMetrics, type MetricsSnapshot } from './ops/metrics.js';
export {
  HotSwapManager,
  type SwapOptions,
  type SwapResult,
  type HotSwapDeps,
} from './ops/hot-swap/hot-swap-manager.js';
export type {
  HotSwapEvents,
  StagedEvent,
  CommittedEvent,
  SwapReport,
  SwapOutcome,
  RolledBackEvent,
  SettledEvent,
  RefusedEvent,
} from './ops/hot-swap/events.js';
export type { ModuleRecord, ModuleStatus } from './ops/hot-swap/module-registry.js';
export {
  TrustedKeys,
  generateSigningKey,
  signModule,
  parseSignature,
  keyIdOf,
  sha256Hex,
  SIGNATURE_FORMAT,
  type ModuleSignature,
} from './ops/hot-swap/signature.js';
export { AuditedTraffic, type AuditedTrafficOptions, type TrafficReport } from './ops/hot-swap/audited-traffic.js';
export type { GuestMemoryView } from './common/guest-api.js';
export {
  featureWord,
  ringFeatures,
  describeFeatures,
  NO_RING_FEATURES,
  type RingFeatures,
} from './common/virtio/features.js';
export { needEvent } from './common/virtio/ring-layout.js';
export { DeviceQueue, type QueueConfig, type QueueSnapshot, type QueueStats } from './dpu/virtio/device-queue.js';
export { LoopbackDevice, type LoopbackOptions, type LoopbackStats } from './dpu/virtio/loopback-device.js';
export {
  ReferenceDevice,
  echoChain,
  type RefChain,
  type RefMemory,
  type RefQueueConfig,
} from './dpu/virtio/reference-device.js';
export { BROKEN_REASONS, REJECT_REASONS, SETUP_REFUSALS } from './dpu/virtio/queue-state.js';
export { Guest, type GuestOptions } from './hypervisor/guest/guest.js';
export { GuestVcpu, DEFAULT_VCPU_NICE, type GuestVcpuOptions } from './hypervisor/guest/vcpu.js';
export { GuestQueue, type NotifyWords } from './hypervisor/guest/guest-queue.js';
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
export { CcFlowTable, type CcLaw, type CcEvent, type CcTableOptions } from './dpu/cc/cc-kernel.js';
export { Simulation, SIM_DEFAULTS, type SimConfig } from './netsim/simulation.js';
export { runScenario, scenarioFlows, type Scenario, type AlgorithmResult, type Progress } from './netsim/scenario.js';
export { runFairness, type FairnessOptions, type FairnessResult } from './netsim/fairness.js';
export { ccSetup, parseCcList, CC_NAMES, type CcName, type CcSetup } from './netsim/cc-config.js';
export { compileNetwork, baseRttPs, type Network } from './netsim/network.js';
export {
  resolveTopology,
  parseTopologyFile,
  fatTree,
  incastStar,
  dumbbell,
  leafSpine,
  type Topology,
  type TopoLink,
} from './netsim/topology.js';
export {
  parseCdf,
  loadCdf,
  poissonFlows,
  incastFlows,
  meanSize,
  type FlowSpec,
  type SizeCdf,
} from './netsim/workload.js';
export {
  slowdownBins,
  shortFlowSlowdown,
  jainIndex,
  percentile,
  SHORT_FLOW_BYTES,
  type FlowResult,
  type SlowdownBin,
} from './netsim/metrics.js';
export { readFlows, readPorts, readSeries, queueSummary, type PortStats } from './netsim/results.js';
export { writeOutputs, summaryOf } from './netsim/outputs.js';
export { slowdownSvg } from './netsim/slowdown-chart.js';
export { Prng } from './common/prng.js';
export { Classifier, type ClassifierOptions } from './dpu/flow/classifier.js';
export { normalizeRule, ruleMatches, type ClassifierRule, type NormalRule } from './dpu/flow/classifier-rule.js';
export { parseClassBench, parseTrace, formatClassBenchRule } from './dpu/flow/classbench.js';
export {
  parseIPv4,
  formatIPv4,
  parsePrefix4,
  parseIPv6,
  formatIPv6,
  parsePrefix6,
  type Prefix4,
  type Prefix6,
} from './dpu/flow/ip-address.js';
export {
  RouteTable,
  MAX_NEXT_HOP,
  type RouteTableOptions,
  type AddressFamily,
  type RoutePrefix,
} from './dpu/flow/route-table.js';
export {
  FlowTable,
  FLOW_KEY_BYTES,
  MAX_FLOW_VALUE,
  type FlowTableOptions,
  type FlowInsertResult,
  type FlowPlacement,
} from './dpu/flow/flow-table.js';
export {
  PacketParser,
  flowKey,
  decodeRecord,
  PARSE_RECORD_BYTES,
  PARSE_DESC_BYTES,
  type ParsedPacket,
  type FlowKeyFields,
  type Verdict,
} from './dpu/flow/packet-parser.js';
export { relaxedSimdSupported, SIMD_CHOICES, type SimdChoice, type SimdFlavour } from './dpu/kernels/kernel-flavour.js';
export { ReedSolomon, type ReedSolomonOptions } from './dpu/ec/reed-solomon.js';
export { MATRIX_KINDS, type MatrixKind } from './dpu/ec/matrices.js';
export { isalRsMaxDataShards } from './dpu/ec/isal-rs-limits.js';
export type { DecodePlan } from './dpu/ec/decode-plans.js';
export { EcOffload, type EcOffloadOptions, type OffloadResult } from './dpu/ec/ec-offload.js';
export { crc16t10dif, crc16t10difAt, type CrcOptions } from './dpu/dif/crc16.js';
export {
  T10Dif,
  type DifTag,
  type DifFailure,
  type DifVerifyResult,
  type DifVerifyCopyResult,
} from './dpu/dif/t10-dif.js';
export { DIF_BLOCK_SIZES, type T10DifOptions, type DifChecks, type DifConfig } from './dpu/dif/dif-config.js';
