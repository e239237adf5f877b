/**
 * The qingtian SDK: a DPU-offloaded cloud host you boot in a Node process, and the data-path
 * libraries its DPU cores run.
 *
 * - {@link Host} is the way in: host physical memory, the kernel loader, the DPU cores and hot
 *   swaps, all reached through it (`host.memory`, `host.kernels`, `host.dpu`, `host.swaps`), the
 *   network of VPCs, ports and tunnels its guests use ({@link HostNetwork}, `host.network`), and
 *   its VMs (`host.vms`: a lifecycle after libvirt's, driven through a host agent over vsock),
 *   and instances of every kind — VMs, containers, bare metal — under one API (`host.instances`).
 * - The data-path classes — {@link PacketParser}, {@link FlowTable}, {@link Classifier},
 *   {@link RouteTable}, {@link ReedSolomon}, {@link EcOffload}, {@link T10Dif},
 *   {@link crc16t10dif}, {@link CcFlowTable} — work standalone (a private memory, see
 *   {@link defaultRuntime}) or inside a host (`{ runtime: host.runtime }`), where the DPU cores
 *   see the same bytes. Methods ending in `At` take addresses in that memory and copy nothing.
 * - The network simulator behind `qingtian sim`: {@link runScenario}, {@link runFairness}.
 * - Every error thrown is a {@link QingtianError} with a stable {@link ErrorCode}.
 *
 * Everything else (allocator internals, the core's command protocol, ring layouts, the raw
 * kernel loader, guests and virtio devices) is in `qingtian/internals`, which may change in any
 * release.
 *
 * @module qingtian
 */

// Errors
export { QingtianError, ErrorCode, isQingtianError } from './common/errors.js';

// Host
export { Host, type HostOptions } from './orchestrator/host.js';
export type { MetricsSnapshot } from './ops/metrics.js';

// VMs
export type { VmManager, VmManagerOptions, VmManagerEvents } from './orchestrator/vms/vm-manager.js';
export type {
  Vm,
  VmState,
  VmStateEvent,
  VmEvents,
  VmDeviceEvent,
  ShutdownOptions,
  DevicePlacement,
} from './orchestrator/vms/vm.js';
export type { RelocationReport } from './orchestrator/sched/device-relocation.js';
export {
  VCPU_CLASSES,
  VCPU_CLASS_POLICY,
  type VcpuClass,
  type VcpuPlacement,
  type VcpuPolicy,
} from './hypervisor/sched/vcpu-class.js';
export type {
  VmSpec,
  VmDeviceSpec,
  VsockDeviceSpec,
  NetDeviceSpec,
  BlkDeviceSpec,
  PluggableDeviceSpec,
  GuestSpec,
} from './orchestrator/vms/vm-spec.js';
export type { VmNetHandle, VmBlkHandle, UnplugReport, VmDeviceKind } from './orchestrator/vms/vm-device.js';
export type { VmRam } from './orchestrator/vms/vm-ram.js';
export type { GuestSpace, GuestRam } from './hypervisor/guest/virtio/driver-api.js';
export type { NetStackCounters } from './hypervisor/guest/virtio/net-guest.js';
export type {
  GuestInfo,
  GuestNetCounters,
  GuestBlkStatus,
  GuestBlkPhase,
} from './orchestrator/agent/guest-agent-client.js';
export type { AgentStats } from './hypervisor/agent/protocol/messages.js';

// Instances: VMs, containers and bare metal under one API
export type {
  InstanceManager,
  InstanceManagerOptions,
  InstanceManagerEvents,
} from './orchestrator/instances/instance-manager.js';
export type { Instance, InstanceState, InstanceStateEvent, InstanceEvents } from './orchestrator/instances/instance.js';
export type {
  InstanceSpec,
  InstanceKind,
  VmInstanceSpec,
  ContainerSpec,
  ContainerNetworkSpec,
  BareMetalSpec,
} from './orchestrator/instances/instance-spec.js';
export type { VmInstance } from './orchestrator/instances/vm-instance.js';
export type {
  ContainerInstance,
  ContainerPingOptions,
  ContainerStats,
} from './orchestrator/instances/container-instance.js';
export type { ContainerNetCounters } from './orchestrator/instances/container-trunk.js';
export type { ContainerHostOptions } from './orchestrator/instances/container-host.js';

// Host daemon (`qingtian serve`): the host as JSON resources over a socket
export { Daemon, type DaemonOptions } from './orchestrator/daemon/daemon.js';
export { DaemonClient, type DaemonReply } from './orchestrator/daemon/daemon-client.js';
export type { ApiErrorBody } from './orchestrator/daemon/api-error.js';

// Host memory
export type { HostMemory, HostMemoryOptions } from './memory/host-memory.js';
export type { HugePageStatus, ThpMode } from './memory/huge-pages.js';
export type { AllocatorStats } from './memory/region-allocator.js';
export type { Region, StateRegion, AllocRequest, StateAllocRequest, HostMemoryApi } from './common/host-memory-api.js';
export type { RegionKind } from './common/region-kind.js';

// Kernels and DPU cores
export { defaultRuntime, type KernelRuntime } from './dpu/kernels/kernel-runtime.js';
export type { KernelLoader, LoadedKernel } from './dpu/kernels/kernel-loader.js';
export type { KernelImageInfo } from './common/kernel-image.js';
export type { DpuCorePool, DpuOptions, CorePriority } from './dpu/core/core-pool.js';
export type {
  DpuCore,
  Job,
  JobFailure,
  JobFailedEvent,
  JobRolledBackEvent,
  SwapTransform,
  SwapCommit,
} from './dpu/core/dpu-core.js';
export type { CoreMode, CoreRunState } from './dpu/core/core-layout.js';
export type { CoreCounters } from './dpu/core/core-counters.js';
export type { JobCounters, JobCounterName } from './dpu/core/job-counters.js';
export type { PauseTrace } from './dpu/core/pause-trace.js';

// Hot swap
export type { HotSwapManager, SwapOptions, SwapResult } from './ops/hot-swap/hot-swap-manager.js';
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
  generateSigningKey,
  signModule,
  parseSignature,
  keyIdOf,
  type TrustedKeys,
  type ModuleSignature,
} from './ops/hot-swap/signature.js';

// Network (host.network)
export {
  type HostNetwork,
  type NetworkOptions,
  type AttachOptions,
  type AttachedPort,
  type FlowView,
  type NetworkStats,
} from './dpu/net/host-network.js';
export type {
  VpcOptions,
  SubnetOptions,
  PortOptions,
  SubPortOptions,
  TunnelOptions,
  RemoteHostOptions,
  RemotePortOptions,
  RouteOptions,
  RouteTarget,
  SecurityGroupOptions,
  SecurityGroupRule,
} from './dpu/net/vpc-schemas.js';
export type {
  VpcInfo,
  SubnetInfo,
  PortInfo,
  SecurityGroupInfo,
  SecurityGroupRuleInfo,
  TunnelInfo,
  RemoteHostInfo,
  RouteInfo,
} from './dpu/net/network-info.js';
export type { CtTimeouts } from './dpu/net/conntrack.js';
export type { SlowPathStats, SlowPathCounterName } from './dpu/net/slow-path-types.js';
export { DROP_REASONS, type DropReason } from './dpu/net/flow-actions.js';
export type { RunnerStats } from './dpu/net/slow-path-runner.js';
export type { TunnelSocketStats } from './dpu/net/tunnel-socket.js';

// Flow lookups
export {
  PacketParser,
  flowKey,
  decodeRecord,
  PARSE_RECORD_BYTES,
  PARSE_DESC_BYTES,
  type PacketParserOptions,
  type ParsedPacket,
  type FlowKeyFields,
  type Verdict,
} from './dpu/flow/packet-parser.js';
export {
  FlowTable,
  FLOW_KEY_BYTES,
  MAX_FLOW_VALUE,
  type FlowTableOptions,
  type FlowInsertResult,
  type FlowPlacement,
} from './dpu/flow/flow-table.js';
export { Classifier, type ClassifierOptions } from './dpu/flow/classifier.js';
export type { ClassifierRule, NormalRule } from './dpu/flow/classifier-rule.js';
export { parseClassBench, parseTrace } from './dpu/flow/classbench.js';
export {
  RouteTable,
  MAX_NEXT_HOP,
  type RouteTableOptions,
  type AddressFamily,
  type RoutePrefix,
} from './dpu/flow/route-table.js';
export { parseIPv4, formatIPv4, parseIPv6, formatIPv6, type Prefix4, type Prefix6 } from './dpu/flow/ip-address.js';

// Kernel flavours (relaxed SIMD)
export { relaxedSimdSupported, SIMD_CHOICES, type SimdChoice, type SimdFlavour } from './dpu/kernels/kernel-flavour.js';

// Erasure coding
export { ReedSolomon, type ReedSolomonOptions } from './dpu/ec/reed-solomon.js';
export { MATRIX_KINDS, type MatrixKind } from './dpu/ec/matrices.js';
export { isalRsMaxDataShards } from './dpu/ec/isal-rs-limits.js';
export type { DecodePlan } from './dpu/ec/decode-plans.js';
export { EcOffload, type EcOffloadOptions, type OffloadResult } from './dpu/ec/ec-offload.js';

// CRC-16/T10-DIF and T10 protection information
export { crc16t10dif, crc16t10difAt, type CrcOptions } from './dpu/dif/crc16.js';
export {
  T10Dif,
  type DifTag,
  type DifFailure,
  type DifVerifyResult,
  type DifVerifyCopyResult,
} from './dpu/dif/t10-dif.js';
export { DIF_BLOCK_SIZES, type T10DifOptions, type DifChecks, type DifConfig } from './dpu/dif/dif-config.js';

// Storage: volumes (log-structured, RS(k,m) over k+m disk files, T10 DIF), their I/O worker, QoS, NBD
export type { Storage, StorageOptions, BlkAttachOptions } from './dpu/blk/storage.js';
export type { BlkDevice, BlkRequestCounters, BlkStats } from './dpu/blk/blk-device.js';
export type { StorageVolume, VolumeQueue, VolumeQueueOptions } from './dpu/blk/storage-volume.js';
export type { NbdExportServer, NbdServeOptions } from './dpu/blk/nbd/nbd-export-server.js';
export type { NbdServerStats } from './dpu/blk/nbd/nbd-server.js';
export type { NbdExport } from './dpu/blk/nbd/negotiation.js';
export {
  MAX_VOLUME_BYTES,
  VOLUME_FORMAT_VERSION,
  type VolumeCreateOptions,
  type DiskState,
  type Superblock,
} from './dpu/blk/volume/volume-config.js';
export { VolumeStatus, VOLUME_STATUS_NAMES } from './dpu/blk/volume/volume-status.js';
export type { VolumeStats, OpCounters } from './dpu/blk/volume/volume-stats.js';
export type { CheckReport } from './dpu/blk/volume/consistency-check.js';
export type { RebuildProgress } from './dpu/blk/volume/rebuilder.js';
export type { ScrubReport } from './dpu/blk/volume/scrubber.js';
export type { RecoveryReport } from './dpu/blk/volume/recovery.js';
export type { UpgradeReport } from './dpu/blk/volume/volume.js';
export type { StripeWriterChoice } from './dpu/blk/volume/stripe-writer.js';
export type { VolumeInfo, VolumeReport } from './dpu/blk/engine/storage-rpc.js';
export { LATENCY_BOUNDS_S, type LatencyHistogramData } from './common/latency-histogram.js';
export type { CleanerCounters } from './dpu/blk/volume/cleaner.js';
export type { DiskIoChoice, DiskIoOption } from './dpu/blk/volume/disk-io.js';
export type { ReaderCounters } from './dpu/blk/volume/block-reader.js';
export type { QueueCounters } from './dpu/blk/engine/queue-endpoint.js';
export { VolumeQueueClient } from './dpu/blk/engine/queue-client.js';
export { VolumeOp, VolumeFlag } from './dpu/blk/engine/volume-queue-layout.js';
export type { QosSpec } from './dpu/blk/qos/qos-scheduler.js';
export type { TokenBucketSpec } from './dpu/blk/qos/token-bucket.js';

// Congestion control
export {
  CcFlowTable,
  type CcLaw,
  type CcEvent,
  type CcTableOptions,
  type CcParamName,
  type CcStateField,
  type AckBatch,
} from './dpu/cc/cc-kernel.js';

// Network simulator (qingtian sim)
export { runScenario, type Scenario, type AlgorithmResult, type Progress } from './netsim/scenario.js';
export { runFairness, type FairnessOptions, type FairnessResult } from './netsim/fairness.js';
export { writeOutputs } from './netsim/outputs.js';
export { resolveTopology, type Topology, type TopoLink } from './netsim/topology.js';
export { loadCdf, parseCdf, type SizeCdf } from './netsim/workload.js';
export { parseCcList, CC_NAMES, type CcName } from './netsim/cc-config.js';
export type { FlowResult, SlowdownBin } from './netsim/metrics.js';
export type { PortStats } from './netsim/results.js';
