/**
 * prom-client's metric classes and its scrape-time process metrics, without its index: the index
 * also loads collectDefaultMetrics' event-loop-delay monitor (a timer firing every 10 ms, the agent's
 * main idle CPU cost) and GC observer, the cluster aggregator and the Pushgateway, ~4 MB of resident
 * memory the agent does not use (bench/idle.ts measures it). The classes are the same ones.
 */
import type * as prom from 'prom-client';
import CounterClass from 'prom-client/lib/counter.js';
import GaugeClass from 'prom-client/lib/gauge.js';
import HistogramClass from 'prom-client/lib/histogram.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processCpuTotal from 'prom-client/lib/metrics/processCpuTotal.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import RegistryClass from 'prom-client/lib/registry.js';

export const Counter = CounterClass as typeof prom.Counter;
export const Gauge = GaugeClass as typeof prom.Gauge;
export const Histogram = HistogramClass as typeof prom.Histogram;
export const Registry = RegistryClass as typeof prom.Registry;
export type Counter<T extends string> = prom.Counter<T>;
export type Gauge<T extends string> = prom.Gauge<T>;
export type Histogram<T extends string> = prom.Histogram<T>;
export type Registry = prom.Registry;

/**
 * prom-client's default process metrics that are read when scraped (process_cpu_*, process_resident_memory_bytes,
 * process_start_time_seconds, process_*_fds, nodejs_heap_*, nodejs_version_info): no timer, no observer.
 * Left out: nodejs_eventloop_lag_* (its 10 ms timer), nodejs_gc_* and nodejs_heap_space_* (node:v8).
 */
export function collectProcessMetrics(registry: Registry): void {
  for (const collect of [
    processCpuTotal,
    processStartTime,
    osMemoryHeap,
    processOpenFileDescriptors,
    processMaxFileDescriptors,
    heapSizeAndUsed,
    version,
  ]) {
    collect(registry, {});
  }
}
