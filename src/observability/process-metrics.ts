import type { Meter } from '@opentelemetry/api';
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

/**
 * Process and runtime metrics under the OpenTelemetry semantic-convention names (`process.*`, `nodejs.eventloop.*`,
 * `v8js.*`), all observable: nothing runs between scrapes except Node's own event-loop delay sampler (one timer
 * every 20 ms). Values are in seconds and bytes, as the conventions ask.
 */
export interface ProcessMetrics {
  /** Stops the event-loop delay sampler. Idempotent. */
  stop(): void;
}

/** Event-loop delay sampling resolution, in milliseconds (Node's timer granularity makes lower values noisy). */
const LOOP_DELAY_RESOLUTION_MS = 20;
const NS_PER_S = 1e9;
/** Linux only; elsewhere the fd gauge is simply not reported. */
const FD_DIR = '/proc/self/fd';

export function registerProcessMetrics(meter: Meter): ProcessMetrics {
  const loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  // The delay gauges describe the interval since the previous collection (the histogram is reset after each; with
  // both /metrics and OTLP push, since the previous collection by either). Values include the 20 ms sampling
  // interval itself: an idle loop reads ~0.02 s. Node's reset() also drops the interval up to the first tick after
  // it, so a stall starting within 20 ms of a collection is missed here; nodejs.eventloop.utilization still shows
  // it. A collection that finds no sample (two within 20 ms) repeats the previous values instead of reporting 0.
  let lastDelay = { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  let lastElu: EventLoopUtilization = performance.eventLoopUtilization();
  let fdReadable = true;

  const delayP50 = meter.createObservableGauge('nodejs.eventloop.delay.p50', { description: 'Event loop delay, 50th percentile since the previous collection', unit: 's' });
  const delayP90 = meter.createObservableGauge('nodejs.eventloop.delay.p90', { description: 'Event loop delay, 90th percentile since the previous collection', unit: 's' });
  const delayP99 = meter.createObservableGauge('nodejs.eventloop.delay.p99', { description: 'Event loop delay, 99th percentile since the previous collection', unit: 's' });
  const delayMax = meter.createObservableGauge('nodejs.eventloop.delay.max', { description: 'Event loop delay, maximum since the previous collection', unit: 's' });
  const delayMean = meter.createObservableGauge('nodejs.eventloop.delay.mean', { description: 'Event loop delay, mean since the previous collection', unit: 's' });
  const utilization = meter.createObservableGauge('nodejs.eventloop.utilization', { description: 'Fraction of time the event loop was busy since the previous collection (0..1)', unit: '1' });
  const cpuTime = meter.createObservableCounter('process.cpu.time', { description: 'CPU time used by the process, by mode (user, system)', unit: 's' });
  const memoryUsage = meter.createObservableUpDownCounter('process.memory.usage', { description: 'Resident set size (RSS) of the process', unit: 'By' });
  const heapUsed = meter.createObservableUpDownCounter('v8js.memory.heap.used', { description: 'V8 heap memory in use, by heap space', unit: 'By' });
  const heapSize = meter.createObservableUpDownCounter('v8js.memory.heap.space.size', { description: 'V8 heap memory reserved, by heap space', unit: 'By' });
  const fds = meter.createObservableUpDownCounter('process.unix.file_descriptor.count', { description: 'Open file descriptors (sockets included) of the process', unit: '{file_descriptor}' });
  const uptime = meter.createObservableGauge('process.uptime', { description: 'Time since the process started', unit: 's' });

  meter.addBatchObservableCallback(
    (r) => {
      if (loopDelay.count > 0) {
        lastDelay = {
          p50: loopDelay.percentile(50) / NS_PER_S,
          p90: loopDelay.percentile(90) / NS_PER_S,
          p99: loopDelay.percentile(99) / NS_PER_S,
          max: loopDelay.max / NS_PER_S,
          mean: loopDelay.mean / NS_PER_S,
        };
        loopDelay.reset();
      }
      r.observe(delayP50, lastDelay.p50);
      r.observe(delayP90, lastDelay.p90);
      r.observe(delayP99, lastDelay.p99);
      r.observe(delayMax, lastDelay.max);
      r.observe(delayMean, lastDelay.mean);

      const elu = performance.eventLoopUtilization();
      r.observe(utilization, performance.eventLoopUtilization(elu, lastElu).utilization);
      lastElu = elu;

      const cpu = process.cpuUsage(); // microseconds
      r.observe(cpuTime, cpu.user / 1e6, { 'cpu.mode': 'user' });
      r.observe(cpuTime, cpu.system / 1e6, { 'cpu.mode': 'system' });
      r.observe(memoryUsage, process.memoryUsage.rss());
      for (const s of getHeapSpaceStatistics()) {
        r.observe(heapUsed, s.space_used_size, { 'v8js.heap.space.name': s.space_name });
        r.observe(heapSize, s.space_size, { 'v8js.heap.space.name': s.space_name });
      }
      if (fdReadable) {
        try {
          r.observe(fds, readdirSync(FD_DIR).length);
        } catch {
          fdReadable = false; // not Linux, or /proc not mounted: stop trying
        }
      }
      r.observe(uptime, process.uptime());
    },
    [delayP50, delayP90, delayP99, delayMax, delayMean, utilization, cpuTime, memoryUsage, heapUsed, heapSize, fds, uptime],
  );

  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      loopDelay.disable();
    },
  };
}
