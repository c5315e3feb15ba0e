// Linux /proc readers for a child process: CPU time, resident set size, children and sockets.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { execSync } from 'node:child_process';

let clkTck;
export function clockTicks() {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of the process, in microseconds (resolution 1/CLK_TCK s). */
export function cpuMicros(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3 (state).
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  return ((utime + stime) * 1e6) / clockTicks();
}

/** VmRSS in bytes. */
export function rssBytes(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
  return m ? Number(m[1]) * 1024 : NaN;
}

export function cpuModel() {
  try {
    const m = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Busy CPU time of the whole machine (all cores, every process), in microseconds. */
export function machineBusyMicros() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  return (busy * 1e6) / clockTicks();
}

/** Pids of the direct children of `pid` (the workers of a `serve --workers N` primary). */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: scan every process's parent pid (field 4 of /proc/<pid>/stat).
    const out = [];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const s = readFileSync(`/proc/${d}/stat`, 'utf8');
        if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
      } catch {}
    }
    return out;
  }
}

/** Open sockets of a process (TCP, Unix, IPC): its connection count, up to a few sockets of its own. */
export function socketCount(pid) {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {} // closed meanwhile
  }
  return n;
}

/**
 * The process's main thread (its event loop) from /proc/<pid>/schedstat: ns on a CPU, ns runnable but waiting for a
 * CPU (the run queue: time the loop was held by other processes, not by its own work), and timeslices.
 */
export function schedStat(pid) {
  const [cpuNs, waitNs, slices] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { cpuNs, waitNs, slices };
}

/**
 * User and system CPU (µs) of `pid`'s main thread (the event loop) and of its other threads together (V8's workers:
 * concurrent and parallel GC, compilation; libuv's pool; Node 20 names them all "node", so they are not told apart).
 * Read at two moments, the difference says which side a phase's CPU went to, and whether it was user or kernel time.
 */
export function threadTimes(pid) {
  const out = { main: { user: 0, sys: 0 }, other: { user: 0, sys: 0 } };
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const k = 1e6 / clockTicks();
  for (const tid of tids) {
    let s;
    try {
      s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const g = Number(tid) === pid ? out.main : out.other;
    g.user += Number(f[11]) * k;
    g.sys += Number(f[12]) * k;
  }
  return out;
}

/** threadTimes(after) - threadTimes(before). */
export function threadDelta(before, after) {
  const d = {};
  for (const g of Object.keys(after)) d[g] = { user: after[g].user - before[g].user, sys: after[g].sys - before[g].sys };
  return d;
}
