'use strict';
// procguard's diagnostics_channel events as OpenTelemetry metrics, through @opentelemetry/api:
// whichever MeterProvider the application registered (an OTLP exporter, Prometheus, ...) gets them.
//
//   require('./opentelemetry.cjs').instrument(); // after the SDK is set up
//
// Tested by test/examples.test.ts. The OpenTelemetry packages are the application's dependencies, not procguard's.
const diagnosticsChannel = require('node:diagnostics_channel');
const { metrics } = require('@opentelemetry/api');

/** Creates procguard's instruments on `meter` and feeds them from the channels; returns a function that stops. */
function instrument(meter = metrics.getMeter('procguard')) {
  const spawns = meter.createCounter('procguard.spawns', { description: 'Children started through procguard' });
  const oomKills = meter.createCounter('procguard.oom_kills', {
    description: "Children the kernel's OOM killer ended, by cause (cgroup-limit, system)",
  });
  const guardKills = meter.createCounter('procguard.guard.kills', { description: "Children procguard's guard killed, by trigger" });
  const peakMemory = meter.createHistogram('procguard.child.memory.peak', {
    description: "A child's peak memory (its cgroup's memory.peak, else its largest resident set)",
    unit: 'By',
  });

  const onSpawn = (message) => spawns.add(1, { 'procguard.sync': message.sync });
  const onExit = (message) => {
    if (message.oomKill) oomKills.add(1, { 'procguard.oom.cause': message.oomKill.cause });
    peakMemory.record(message.resourceUsage.memory_peak_bytes ?? message.resourceUsage.maxRssBytes);
  };
  const onGuard = (message) => {
    if (message.type === 'kill' && !message.dryRun && !message.escalation) guardKills.add(1, { 'procguard.guard.trigger': message.trigger });
  };
  diagnosticsChannel.subscribe('procguard:spawn', onSpawn);
  diagnosticsChannel.subscribe('procguard:exit', onExit);
  diagnosticsChannel.subscribe('procguard:guard', onGuard);
  return () => {
    diagnosticsChannel.unsubscribe('procguard:spawn', onSpawn);
    diagnosticsChannel.unsubscribe('procguard:exit', onExit);
    diagnosticsChannel.unsubscribe('procguard:guard', onGuard);
  };
}

module.exports = { instrument };
