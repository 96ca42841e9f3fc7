'use strict';
// procguard's diagnostics_channel events as Prometheus metrics, with prom-client.
//
//   const client = require('prom-client');
//   require('./prometheus.cjs').instrument(client.register);
//   // ... serve `await client.register.metrics()` on /metrics
//
// Tested by test/examples.test.ts. prom-client is the application's dependency, not procguard's.
const diagnosticsChannel = require('node:diagnostics_channel');
const client = require('prom-client');

/** Registers procguard's metrics in `registry` and feeds them from the channels; returns a function that stops. */
function instrument(registry = client.register) {
  const spawns = new client.Counter({
    name: 'procguard_spawns_total',
    help: 'Children started through procguard',
    labelNames: ['sync'],
    registers: [registry],
  });
  const oomKills = new client.Counter({
    name: 'procguard_oom_kills_total',
    help: "Children the kernel's OOM killer ended, by cause: cgroup-limit (its own cap) or system (the machine or an ancestor ran out)",
    labelNames: ['cause'],
    registers: [registry],
  });
  const guardKills = new client.Counter({
    name: 'procguard_guard_kills_total',
    help: "Children procguard's guard killed before the kernel had to, by trigger",
    labelNames: ['trigger'],
    registers: [registry],
  });
  const peakMemory = new client.Histogram({
    name: 'procguard_child_peak_memory_bytes',
    help: "A child's peak memory: its cgroup's memory.peak when it had one, else its largest resident set",
    buckets: [16, 64, 256, 512, 1024, 2048, 4096, 8192].map((mib) => mib * 2 ** 20),
    registers: [registry],
  });

  const onSpawn = (message) => spawns.inc({ sync: String(message.sync) });
  const onExit = (message) => {
    if (message.oomKill) oomKills.inc({ cause: message.oomKill.cause });
    peakMemory.observe(message.resourceUsage.memory_peak_bytes ?? message.resourceUsage.maxRssBytes);
  };
  const onGuard = (message) => {
    // A SIGKILL escalating a SIGTERM is the same kill; a dry run killed nothing.
    if (message.type === 'kill' && !message.dryRun && !message.escalation) guardKills.inc({ trigger: message.trigger });
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
