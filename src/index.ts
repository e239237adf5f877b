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
export { DpuCore, type Job, type JobFailure, type JobFailedEvent, type JobRolledBackEvent, type SwapTransform, type SwapCommit } from './dpu/dpu-core.js';
export { CORE_MODES, type CoreMode, type CoreRunState } from './dpu/core-layout.js';
export { COUNTER_NAMES, type CoreCounters } from './dpu/core-counters.js';
export { renderMetrics, type MetricsSnapshot } from './ops/metrics.js';
export { HotSwapManager, type SwapOptions, type SwapResult, type HotSwapDeps } from './ops/hot-swap/hot-swap-manager.js';
export type { HotSwapEvents, StagedEvent, CommittedEvent, SwapReport, SwapOutcome, RolledBackEvent, SettledEvent, RefusedEvent } from './ops/hot-swap/events.js';
export type { ModuleRecord, ModuleStatus } from './ops/hot-swap/module-registry.js';
export { TrustedKeys, generateSigningKey, signModule, parseSignature, keyIdOf, sha256Hex, SIGNATURE_FORMAT, type ModuleSignature } from './ops/hot-swap/signature.js';
export { AuditedTraffic, type AuditedTrafficOptions, type TrafficReport } from './ops/hot-swap/audited-traffic.js';
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
