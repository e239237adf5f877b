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
export type { GuestMemoryView } from './common/guest-api.js';
export { featureWord, ringFeatures, describeFeatures, NO_RING_FEATURES, type RingFeatures } from './common/virtio/features.js';
export { needEvent } from './common/virtio/ring-layout.js';
export { DeviceQueue, type QueueConfig, type QueueSnapshot, type QueueStats } from './dpu/virtio/device-queue.js';
export { LoopbackDevice, type LoopbackOptions, type LoopbackStats } from './dpu/virtio/loopback-device.js';
export { ReferenceDevice, echoChain, type RefChain, type RefMemory, type RefQueueConfig } from './dpu/virtio/reference-device.js';
export { BROKEN_REASONS, REJECT_REASONS, SETUP_REFUSALS } from './dpu/virtio/queue-state.js';
export { Guest, type GuestOptions } from './hypervisor/guest/guest.js';
export { GuestVcpu } from './hypervisor/guest/vcpu.js';
export { GuestQueue, type NotifyWords } from './hypervisor/guest/guest-queue.js';
export { createDriver, SplitDriver, PackedDriver, type Buf, type Completion, type DriverOptions, type GuestRam, type VirtqueueDriver } from './hypervisor/guest/virtio/index.js';
export { CcFlowTable, type CcLaw, type CcEvent, type CcTableOptions } from './dpu/rdma/cc-kernel.js';
export { Simulation, SIM_DEFAULTS, type SimConfig } from './sim/simulation.js';
export { runScenario, scenarioFlows, type Scenario, type AlgorithmResult, type Progress } from './sim/scenario.js';
export { runFairness, type FairnessOptions, type FairnessResult } from './sim/fairness.js';
export { ccSetup, parseCcList, CC_NAMES, type CcName, type CcSetup } from './sim/cc-config.js';
export { compileNetwork, baseRttPs, type Network } from './sim/network.js';
export { resolveTopology, parseTopologyFile, fatTree, incastStar, dumbbell, leafSpine, type Topology, type TopoLink } from './sim/topology.js';
export { parseCdf, loadCdf, poissonFlows, incastFlows, meanSize, type FlowSpec, type SizeCdf } from './sim/workload.js';
export { slowdownBins, shortFlowSlowdown, jainIndex, percentile, SHORT_FLOW_BYTES, type FlowResult, type SlowdownBin } from './sim/metrics.js';
export { readFlows, readPorts, readSeries, queueSummary, type PortStats } from './sim/results.js';
export { writeOutputs, summaryOf } from './sim/outputs.js';
export { slowdownSvg } from './sim/slowdown-chart.js';
export { Prng } from './sim/prng.js';
