/**
 * network/port_mapping: what the isolator records about the host and each container's network.
 */
import type { PortBlock } from '../../../../linux/index.ts';
import type { PortInterval } from './options.ts';

/** The host's public link, its loopback and its address, learnt once at start-up. */
export interface Host {
  readonly eth0: string;
  readonly lo: string;
  readonly mac: string;
  readonly mtu: number;
  readonly ip: string;
  readonly prefix: number;
  readonly gateway?: string;
  readonly ipv6: boolean;
  readonly sysctls: readonly (readonly [string, string])[];
}

export interface NetContainer {
  readonly containerId: string;
  readonly pid: number;
  readonly veth: string;
  readonly ephemeral: PortBlock;
  ports: PortInterval[];
  slot: 0 | 1;
  /** Its namespace's pin (a warm one), until the command holds it. */
  warm?: Warm | undefined;
}

/** A network namespace made ahead: pinned at /run/netns/<name>, its veth's host end `veth`. */
export interface Warm {
  readonly name: string;
  readonly veth: string;
}

export interface Pending {
  readonly ephemeral: PortBlock;
  readonly ports: PortInterval[];
  readonly warm?: Warm;
}
