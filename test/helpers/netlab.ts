// Test hosts as Linux network namespaces: each host gets its own namespace, an address on
// 10.213.77.0/24 and a veth into a "switch" namespace that bridges them. Nothing is added to the
// host's own namespace, so no traffic leaves the namespaces this creates. Root only.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const SUBNET = '10.213.77';

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim()}`);
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (ip) is not installed';
  const probe = `bzprobe${randomBytes(3).toString('hex')}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `cannot create a network namespace: ${added.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export class NetLab {
  private readonly tag = randomBytes(2).toString('hex');
  private readonly switchNs: string;
  private readonly hosts = new Map<string, { ns: string; address: string; switchSide: string }>();
  private readonly children: ChildProcess[] = [];

  private constructor() {
    this.switchNs = `bz${this.tag}sw`;
  }

  /** Creates the switch and one namespace per host, in order, with addresses .10, .11, … */
  static create(hosts: readonly string[]): NetLab {
    const lab = new NetLab();
    try {
      ip('netns', 'add', lab.switchNs);
      ip('-n', lab.switchNs, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', lab.switchNs, 'link', 'set', 'br0', 'up');
      hosts.forEach((host, index) => {
        const ns = `bz${lab.tag}${host}`;
        const address = `${SUBNET}.${10 + index}`;
        const hostSide = `bz${lab.tag}h${index}`;
        const switchSide = `bz${lab.tag}s${index}`;
        ip('netns', 'add', ns);
        lab.hosts.set(host, { ns, address, switchSide });
        ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', switchSide);
        ip('link', 'set', hostSide, 'netns', ns);
        ip('link', 'set', switchSide, 'netns', lab.switchNs);
        ip('-n', ns, 'link', 'set', hostSide, 'name', 'eth0');
        ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
        ip('-n', ns, 'link', 'set', 'eth0', 'up');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        ip('-n', lab.switchNs, 'link', 'set', switchSide, 'master', 'br0');
        ip('-n', lab.switchNs, 'link', 'set', switchSide, 'up');
      });
    } catch (error) {
      lab.destroy();
      throw error;
    }
    return lab;
  }

  address(host: string): string {
    return this.hosts.get(host)!.address;
  }

  /** Starts a command inside a host's namespace; the PID is the command's own (ip execs it). */
  spawn(host: string, command: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.hosts.get(host)!.ns, ...command], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    this.children.push(child);
    return child;
  }

  /** Runs a command inside a host's namespace to completion. */
  run(host: string, command: readonly string[], timeoutMs = 30_000): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync('ip', ['netns', 'exec', this.hosts.get(host)!.ns, ...command], { encoding: 'utf8', timeout: timeoutMs });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /**
   * Records every packet that crosses the switch into `file` (tcpdump on the bridge, as someone on
   * the hosts' network would see them); stop the returned process to finish the file.
   */
  capture(file: string): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.switchNs, 'tcpdump', '-i', 'br0', '-U', '-s', '0', '-Z', 'root', '-w', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /** Cuts a host off the switch (a partition: the process keeps running), or connects it again. */
  link(host: string, up: boolean): void {
    ip('-n', this.switchNs, 'link', 'set', this.hosts.get(host)!.switchSide, up ? 'up' : 'down');
  }

  /**
   * Cuts the path between two hosts only (each drops what it would send the other: a blackhole
   * route), or restores it; both keep reaching every other host.
   */
  cut(a: string, b: string, cut: boolean): void {
    for (const [from, to] of [[a, b], [b, a]] as const) {
      ip('-n', this.hosts.get(from)!.ns, 'route', cut ? 'add' : 'del', 'blackhole', `${this.address(to)}/32`);
    }
  }

  /** Stops every process started here (SIGKILL), then removes every namespace (and with them every veth). */
  destroy(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGCONT');
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    for (const { ns } of this.hosts.values()) spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['netns', 'del', this.switchNs]);
  }
}
