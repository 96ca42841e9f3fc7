// VM job: the agent inside a container run by runc (the OCI runtime under containerd and
// Kubernetes), configured as a pod's container is by default: private cgroup namespace,
// /sys/fs/cgroup read-only, memory.max on the container, memory.oom.group=1, oom_score_adj as
// kubelet gives a Burstable pod, CAP_SYS_NICE added (the securityContext the README shows).
// Then the same container with a writable cgroup mount. Inside, test/fixtures/cgroup-agent.cjs
// reports status() and its spawns; one `PROCGUARD-RESULT {"kind":"container",...}` per container.
//
// argv[2]: JSON [{ name, cgroupMount: 'ro' | 'rw', agent?: fixture file (default cgroup-agent.cjs), plan }]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const HERE = __dirname;
const MB = 2 ** 20;
const CONTAINER_MEMORY_MAX = 400 * MB;
const BURSTABLE_OOM_SCORE_ADJ = 937; // kubelet: 1000 - 1000 * request / capacity, here a 64M request on 1G

/** The OCI config a pod's container gets by default (containerd's CRI defaults), as runc reads it. */
function podConfig(name, cgroupMount, agent, plan) {
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
    'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_AUDIT_WRITE', 'CAP_SYS_NICE'];
  const bind = (dir) => ({ destination: dir, type: 'bind', source: dir, options: ['rbind', 'ro', 'nosuid', 'nodev'] });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/node', path.join(HERE, agent), JSON.stringify(plan)],
      env: ['PATH=/bin', 'PROCGUARD_ROOT=/project', 'CODER_PROC_PRIO_MGMT=1', 'KUBERNETES_SERVICE_HOST=10.96.0.1', 'KUBERNETES_SERVICE_PORT=443', `HOSTNAME=${name}`],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      oomScoreAdj: BURSTABLE_OOM_SCORE_ADJ,
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // containerd: ro unless the pod is privileged or cgroup_writable = true.
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', cgroupMount] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
      ...['/bin', '/lib', '/lib64', '/etc', '/project'].filter((d) => fs.existsSync(d)).map(bind),
    ],
    linux: {
      namespaces: ['pid', 'ipc', 'uts', 'mount', 'network', 'cgroup'].map((type) => ({ type })),
      cgroupsPath: `/kubepods.slice/kubepods-burstable.slice/pod-${name}/ctr`,
      resources: {
        memory: { limit: CONTAINER_MEMORY_MAX, swap: CONTAINER_MEMORY_MAX },
        // kubelet (cgroup v2, 1.28+): the whole container goes at its limit.
        unified: { 'memory.oom.group': '1' },
      },
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

function runContainer({ name, cgroupMount, agent = 'cgroup-agent.cjs', plan }) {
  const bundle = `/tmp/bundle-${name}`;
  const rootfs = path.join(bundle, 'rootfs');
  for (const dir of ['proc', 'dev', 'sys', 'tmp', 'bin', 'lib', 'lib64', 'etc', 'project', 'node_modules']) fs.mkdirSync(path.join(rootfs, dir), { recursive: true });
  fs.symlinkSync('/project', path.join(rootfs, 'node_modules', 'procguard'));
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(podConfig(name, cgroupMount, agent, plan)));
  const started = Date.now();
  return new Promise((resolve) => {
    // --no-pivot: the VM's root is the initramfs, which pivot_root cannot leave.
    const runc = spawn('/bin/runc', ['--root', '/tmp/runc', 'run', '--no-pivot', '--bundle', bundle, name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    runc.stdout.on('data', (d) => (stdout += d));
    runc.stderr.on('data', (d) => (stderr += d));
    runc.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('CGROUP_AGENT '));
      const agent = line ? JSON.parse(line.slice('CGROUP_AGENT '.length)) : null;
      const containerCgroup = `/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/pod-${name}/ctr`;
      resolve({ kind: 'container', name, ms: Date.now() - started, runc: { code, signal }, stderr: stderr.slice(-3000), agent, containerCgroupGone: !fs.existsSync(containerCgroup) });
    });
  });
}

async function main() {
  for (const container of JSON.parse(process.argv[2])) {
    const result = await runContainer(container);
    process.stdout.write(`PROCGUARD-RESULT ${JSON.stringify(result)}\n`);
  }
}

main().catch((err) => {
  process.stdout.write(`PROCGUARD-RESULT ${JSON.stringify({ kind: 'container', name: 'fatal', error: err.stack })}\n`);
  process.exit(1);
});
