// Runs one Node script inside a throwaway QEMU VM (software emulation, pure cgroup v2, no swap)
// with the project available as `require('procguard')`, and returns what it printed, its
// PROCGUARD-RESULT lines and the kernel log. The VM powers itself off when the script ends;
// one that has not within the timeout is killed and reported as timed out.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PRESSURE_VM_FLAG } from '../../../lib/pressure/confinement';
import { baseArchive, GuestJob, projectArchive } from './initramfs';
import { findVmAssets } from './vm-assets';
import { systemdBaseArchive, systemdRootMissing } from './systemd-root';

export interface VmJobOptions {
  /** Host path of the Node script to run; it sees the project at $PROCGUARD_ROOT (/project). */
  script: string;
  args?: string[];
  env?: Record<string, string>;
  /** More files for the VM: guest path to host path. */
  files?: Record<string, string>;
  memoryMb?: number;
  cpus?: number;
  /** For the whole run, boot to power-off. */
  timeoutMs?: number;
  /**
   * PID 1: 'busybox' (vm/init.sh, the default) or 'systemd' (systemd 257 from a Debian trixie root,
   * vm/systemd-root.ts: the job runs as procguard-job.service).
   */
  init?: 'busybox' | 'systemd';
  /** Called with each line the job prints, as it arrives (for watching a run). */
  onJobLine?: (line: string) => void;
}

export interface VmRun {
  /** The JSON of each `PROCGUARD-RESULT {json}` line the job printed. */
  results: unknown[];
  /** Everything the job printed (stdout and stderr). */
  jobOutput: string;
  /** The job's exit status; null when it never finished. */
  jobExitCode: number | null;
  /** The kernel's log as `dmesg` printed it after the job (else the serial console). */
  kernelLog: string;
  /** The serial console: boot messages and every printk, live, even from a hung VM. */
  console: string;
  timedOut: boolean;
  /**
   * Boots given up because init did not report ready within BOOT_LIMIT_MS (an emulated boot is
   * normally 6-20 s), each with the end of its console; the run is the next boot's.
   */
  hungBoots: { afterMs: number; console: string }[];
  qemuExit: { code: number | null; signal: NodeJS.Signals | null };
  timings: {
    /** Host time from starting QEMU until init was ready to run the job. */
    bootMs: number | null;
    /** Host time the job ran. */
    jobMs: number | null;
    /** Host time from starting QEMU until it exited. */
    totalMs: number;
  };
}

export class VmUnavailableError extends Error {}

const RESULT_MARKER = 'PROCGUARD-RESULT ';

/**
 * A boot that has not reached the job by then is stuck in the emulated machine, not in procguard:
 * it is killed and the VM booted again, at most BOOT_ATTEMPTS times in all.
 */
const BOOT_LIMIT_MS = 90_000;
const BOOT_ATTEMPTS = 3;

/** The longest a run of `timeoutMs` can take with its boot retries: for the test file's beforeAll. */
export const vmHookTimeoutMs = (timeoutMs: number): number => timeoutMs + (BOOT_ATTEMPTS - 1) * BOOT_LIMIT_MS + 60_000;

/** Why the VM cannot run here, or null when it can. */
export function vmUnavailableReason(): string | null {
  const assets = findVmAssets();
  return 'missing' in assets ? `the pressure VM cannot start: missing ${assets.missing.join('; ')}` : null;
}

/**
 * For a test file's beforeAll: the job's run, or why the VM cannot run here (its tests then skip
 * through requireOrSkip, or fail in CI). With PROCGUARD_VM_VERBOSE set, each line the job prints
 * is shown as it comes, cut at `verboseLineChars`.
 */
export async function runInVmOrExplain(options: VmJobOptions & { verboseLineChars?: number }): Promise<{ run: VmRun | null; unavailable: string | null }> {
  const { verboseLineChars, ...job } = options;
  const onJobLine = process.env.PROCGUARD_VM_VERBOSE ? (line: string) => console.log(`vm: ${line.slice(0, verboseLineChars)}`) : undefined;
  try {
    const run = await runNodeScriptInVm({ onJobLine, ...job });
    // Not a failure of the job, but never silent: the test output says a boot was retried and how it ended.
    for (const hung of run.hungBoots) console.log(`vm: a boot of ${path.basename(job.script)} hung (init not ready after ${hung.afterMs} ms) and was retried; its console ended:\n${hung.console.slice(-1500)}`);
    return { run, unavailable: null };
  } catch (err) {
    if (!(err instanceof VmUnavailableError)) throw err;
    return { run: null, unavailable: err.message };
  }
}

/**
 * For an assertion message when a result is missing: how the run ended (the time limit or a
 * power-off, how long boot and job took) and the tails of the job's output and the console,
 * where a boot or kernel problem shows.
 */
export function whatTheVmDid(run: VmRun): string {
  const { bootMs, jobMs, totalMs } = run.timings;
  const hung = run.hungBoots.map((b) => `a boot given up after ${b.afterMs} ms (init not ready); `).join('');
  const boot = bootMs === null ? 'init never reported ready' : `init ready after ${bootMs} ms`;
  const ended = run.timedOut ? `the VM was killed after ${totalMs} ms` : `the VM powered off after ${totalMs} ms (QEMU exit ${run.qemuExit.signal ?? run.qemuExit.code})`;
  const job = jobMs === null ? 'the job never ended' : `the job ended with ${run.jobExitCode} after ${jobMs} ms`;
  return [
    `${hung}${ended}; ${boot}; ${job}; ${run.results.length} result(s)`,
    `job output (its end):\n${run.jobOutput.slice(-3000) || '(nothing)'}`,
    `console (its end):\n${run.console.slice(-2000) || '(nothing)'}`,
  ].join('\n');
}

export async function runNodeScriptInVm(options: VmJobOptions): Promise<VmRun> {
  const assets = findVmAssets();
  if ('missing' in assets) throw new VmUnavailableError(`the pressure VM cannot start: missing ${assets.missing.join('; ')}`);
  const systemd = options.init === 'systemd';
  const rootMissing = systemd ? systemdRootMissing() : null;
  if (rootMissing) throw new VmUnavailableError(`the systemd VM cannot start: missing ${rootMissing}`);
  const job: GuestJob = { script: options.script, args: options.args ?? [], env: options.env ?? {}, files: options.files ?? {} };
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'procguard-vm-'));
  try {
    const initrd = path.join(workDir, 'initrd.gz');
    fs.copyFileSync(systemd ? systemdBaseArchive(assets) : baseArchive(assets), initrd);
    fs.appendFileSync(initrd, projectArchive(job));
    const consoleFile = path.join(workDir, 'console.log');
    const timeoutMs = options.timeoutMs ?? 120_000;
    const kernelArgs = [
      'console=ttyS0',
      'cgroup_no_v1=all', // pure cgroup v2, as on current distributions
      'panic=-1', // an init that dies ends the VM instead of hanging it
      'random.trust_cpu=on', // no wait for entropy: Node reads getrandom at startup
      PRESSURE_VM_FLAG,
      // systemd as PID 1, straight from the initramfs, starting only the job (and what it needs).
      ...(systemd ? ['rdinit=/usr/lib/systemd/systemd', 'systemd.unit=procguard-job.service', 'systemd.show_status=0'] : []),
      `procguard.vm_timeout=${Math.ceil(timeoutMs / 1000) + 30}`, // init's own watchdog, should this process die first
    ];
    const qemuArgs = [
      '-accel', process.env.PROCGUARD_VM_ACCEL ?? 'tcg', // KVM does not work in nested cloud VMs; TCG does
      '-cpu', 'max',
      '-m', String(options.memoryMb ?? 1024), // no swap device: there is none in the VM
      '-smp', String(options.cpus ?? 2),
      '-nodefaults', '-no-reboot', '-display', 'none',
      '-kernel', assets.kernel,
      '-initrd', initrd,
      '-append', kernelArgs.join(' '),
      '-serial', `file:${consoleFile}`, // ttyS0: the kernel console
      '-serial', 'stdio', // ttyS1: the job's output
    ];
    const hungBoots: VmRun['hungBoots'] = [];
    for (;;) {
      fs.rmSync(consoleFile, { force: true });
      const run = await runQemu(assets.qemu, qemuArgs, consoleFile, timeoutMs, options.onJobLine);
      if (run.timings.bootMs !== null || !run.timedOut || hungBoots.length + 1 >= BOOT_ATTEMPTS) return { ...run, hungBoots };
      hungBoots.push({ afterMs: run.timings.totalMs, console: run.console.slice(-3000) });
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** One boot to power-off; one whose init is not ready within BOOT_LIMIT_MS is killed as timed out. */
function runQemu(qemu: string, args: string[], consoleFile: string, timeoutMs: number, onJobLine?: (line: string) => void): Promise<Omit<VmRun, 'hungBoots'>> {
  const started = Date.now();
  let readyAt: number | null = null;
  let jobEndedAt: number | null = null;
  let jobExitCode: number | null = null;
  let inKernelLog = false;
  const jobLines: string[] = [];
  const kernelLines: string[] = [];
  const results: unknown[] = [];
  let stderr = '';

  return new Promise((resolve, reject) => {
    const vm = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const kill = () => {
      timedOut = true;
      vm.kill('SIGKILL'); // our own QEMU, by its pid
    };
    const timer = setTimeout(kill, timeoutMs);
    const bootTimer = setTimeout(() => readyAt === null && kill(), Math.min(BOOT_LIMIT_MS, timeoutMs));
    let pending = '';
    vm.stdout.setEncoding('utf8');
    vm.stdout.on('data', (chunk: string) => {
      pending += chunk.replace(/\r/g, '');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('PROCGUARD-VM-READY')) readyAt = Date.now();
        else if (line.startsWith('PROCGUARD-VM-EXIT')) {
          jobEndedAt = Date.now();
          jobExitCode = Number(line.split(' ')[1]);
        } else if (line === 'PROCGUARD-KERNEL-LOG-BEGIN') inKernelLog = true;
        else if (line === 'PROCGUARD-KERNEL-LOG-END') inKernelLog = false;
        else if (inKernelLog) kernelLines.push(line);
        else {
          jobLines.push(line);
          onJobLine?.(line);
          if (line.startsWith(RESULT_MARKER)) results.push(JSON.parse(line.slice(RESULT_MARKER.length)));
        }
      }
    });
    vm.stderr.setEncoding('utf8');
    vm.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    vm.on('error', (err) => {
      clearTimeout(timer);
      clearTimeout(bootTimer);
      reject(new VmUnavailableError(`${qemu} did not start: ${err.message}`));
    });
    vm.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(bootTimer);
      const consoleText = fs.existsSync(consoleFile) ? fs.readFileSync(consoleFile, 'utf8').replace(/\r/g, '') : '';
      // No console output at all: QEMU itself could not run (an unusable accelerator, no memory).
      if (readyAt === null && !timedOut && consoleText === '') {
        reject(new VmUnavailableError(`QEMU exited (${signal ?? code}) before booting: ${stderr.trim()}`));
        return;
      }
      resolve({
        results,
        jobOutput: jobLines.join('\n'),
        jobExitCode,
        kernelLog: kernelLines.length ? kernelLines.join('\n') : consoleText,
        console: consoleText,
        timedOut,
        qemuExit: { code, signal },
        timings: {
          bootMs: readyAt === null ? null : readyAt - started,
          jobMs: readyAt !== null && jobEndedAt !== null ? jobEndedAt - readyAt : null,
          totalMs: Date.now() - started,
        },
      });
    });
  });
}
