/**
 * network/port_mapping: its options (the agent's flags and port pools) and their start-up checks.
 */
import { CorralError } from '../../../../common/errors.ts';
import type { Logger } from '../../../../common/log.ts';

/** An inclusive port interval. */
export interface PortInterval {
  readonly begin: number;
  readonly end: number;
}

export interface PortMappingOptions {
  /** `--eth0_name` (default: the link of the default route). */
  readonly eth0Name?: string;
  /** `--lo_name` (default: the loopback link). */
  readonly loName?: string;
  /** The agent's `ports` resource: the non-ephemeral pool. */
  readonly ports: readonly PortInterval[];
  /** The agent's `ephemeral_ports` resource: the pool split between containers. */
  readonly ephemeralPorts: readonly PortInterval[];
  /** `--ephemeral_ports_per_container`: a power of two, at least 16. */
  readonly ephemeralPortsPerContainer: number;
  /** `--egress_rate_limit_per_container`, bytes/s (absent or 0: none). */
  readonly egressRateLimit?: number;
  /** `--ingress_rate_limit_per_container`, bytes/s (absent or 0: none). */
  readonly ingressRateLimit?: number;
  /** `--network_enable_socket_statistics_summary`. */
  readonly socketStatisticsSummary?: boolean;
  /** `--network_enable_socket_statistics_details`: TCP round-trip-time percentiles. */
  readonly socketStatisticsDetails?: boolean;
  /** Host ends of the veths are `<vethPrefix><pid>` (default `corral`). */
  readonly vethPrefix?: string;
  /** The link group host ends wait in to be deleted together (default 0x636f7272). */
  readonly doomedGroup?: number;
  /**
   * `--network_warm_namespaces` (not in Mesos; default 0): network namespaces kept ready, made
   * ahead with their veth and everything that does not depend on a container's ports, so that
   * a launch only adds its port filters. Their veths (`<prefix>w<n>`, down) stay on the host
   * while they wait.
   */
  readonly warmNamespaces?: number;
  readonly logger?: Logger;
}

function overlaps(a: PortInterval, b: PortInterval): boolean {
  return a.begin <= b.end && b.begin <= a.end;
}

export function intervalText(r: PortInterval): string {
  return `[${r.begin}-${r.end}]`;
}

export function invalid(field: string, message: string): CorralError {
  return new CorralError('INVALID', `${field}: ${message}`, { field });
}

/**
 * Check the options against each other and against the host's own ephemeral range
 * (`net.ipv4.ip_local_port_range`, "low high"). Throws CorralError INVALID naming the flag.
 */
export function validatePortMappingOptions(o: PortMappingOptions, hostLocalPortRange?: string): void {
  const n = o.ephemeralPortsPerContainer;
  if (!Number.isInteger(n) || n < 16 || (n & (n - 1)) !== 0) {
    throw invalid('--ephemeral_ports_per_container', `${n} is not a power of 2 of at least 16`);
  }
  if (o.ephemeralPorts.length === 0) {
    throw invalid('--resources', 'network/port_mapping needs an ephemeral_ports resource, e.g. ephemeral_ports:[32768-57343]');
  }
  const pool = o.ephemeralPorts.reduce((s, r) => s + r.end - r.begin + 1, 0);
  if (n > pool) throw invalid('--ephemeral_ports_per_container', `${n} is more than the ${pool} ports of ephemeral_ports`);
  const blocks = o.ephemeralPorts.reduce((s, r) => s + Math.max(0, Math.floor((r.end + 1) / n) - Math.ceil(r.begin / n)), 0);
  if (blocks === 0) {
    throw invalid('--ephemeral_ports_per_container', `no block of ${n} ports starting at a multiple of ${n} fits in ephemeral_ports`);
  }
  for (const e of o.ephemeralPorts) {
    if (e.begin < 1024) throw invalid('--resources', `ephemeral_ports ${intervalText(e)} overlaps the well-known ports [0-1023]`);
    for (const p of o.ports) {
      if (overlaps(e, p)) throw invalid('--resources', `ephemeral_ports ${intervalText(e)} overlaps ports ${intervalText(p)}`);
    }
    if (hostLocalPortRange) {
      const [lo, hi] = hostLocalPortRange.trim().split(/\s+/).map(Number);
      if (lo !== undefined && hi !== undefined && overlaps(e, { begin: lo, end: hi })) {
        throw invalid(
          '--resources',
          `ephemeral_ports ${intervalText(e)} overlaps the host's own ephemeral ports [${lo}-${hi}] (net.ipv4.ip_local_port_range): shrink one of them`,
        );
      }
    }
  }
  for (const [flag, v] of [
    ['--egress_rate_limit_per_container', o.egressRateLimit],
    ['--ingress_rate_limit_per_container', o.ingressRateLimit],
  ] as const) {
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) throw invalid(flag, `${v} is not a rate in bytes/s`);
    if (v !== undefined && v > 2 ** 38) throw invalid(flag, `${v} bytes/s is more than a link can carry`);
  }
}
