/**
 * The shapes the addon's network functions take and return (network isolator build). Kept apart
 * from net.ts so that native.ts can type the binding without importing net.ts.
 */

export interface StepBase {
  /** Run inside the target namespace. */
  readonly inNetns?: boolean;
  /** EEXIST counts as done. */
  readonly ignoreExists?: boolean;
  /** ENOENT/ENODEV/EINVAL count as done (deletes); for a sysctl also EACCES/EPERM (not settable here). */
  readonly ignoreMissing?: boolean;
}

export interface U32Key {
  /** Host-order value and mask of the 32 bits at `off` from the network header. */
  readonly val: number;
  readonly mask: number;
  readonly off: number;
}

export interface TcAction {
  readonly kind: 'redirect' | 'mirror';
  /** The target link (to its egress). */
  readonly dev: string;
  /** TC_ACT_STOLEN for a redirect, TC_ACT_PIPE or TC_ACT_CONTINUE for a mirror. */
  readonly control: number;
}

export type NetStep = StepBase &
  (
    | { kind: 'vethAdd'; link: string; peer: string; peerInNetns?: boolean; mac?: string; peerMac?: string; mtu?: number; group?: number }
    | { kind: 'linkSet'; link: string; mac?: string; mtu?: number; up?: boolean; group?: number; alias?: string }
    | { kind: 'linkDelete'; link: string }
    | { kind: 'addrAdd'; link: string; address: string; prefix: number }
    | { kind: 'routeAdd'; link: string; gateway?: string }
    | { kind: 'qdiscAdd'; link: string; qdiscKind: 'ingress' | 'htb' | 'pfifo'; parent: number; handle: number; htbDefault?: number; limit?: number }
    | { kind: 'qdiscDelete'; link: string; parent: number; handle: number }
    | { kind: 'classAdd'; link: string; parent: number; handle: number; rate: number; ceil?: number; burst: number }
    | {
        kind: 'filterAdd';
        link: string;
        parent: number;
        prio: number;
        protocol: number;
        keys: readonly U32Key[];
        terminal?: boolean;
        classid?: number;
        actions?: readonly TcAction[];
        /** Leave out actions whose target link is gone (the last kept takes the last's control); none left: no filter. */
        skipMissingTargets?: boolean;
      }
    | { kind: 'filtersDelete'; link: string; parent: number; prio: number; protocol: number }
    | { kind: 'sysctl'; path: string; value: string }
  );

/** A network namespace: that of a process, or a named one (/run/netns/NAME). */
export interface LinkStats {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txPackets: number;
  readonly txBytes: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  /** The link type (`veth`, `bridge`, ...), '' for plain devices. */
  readonly kind: string;
  readonly up: boolean;
  readonly loopback: boolean;
  readonly mtu: number;
  readonly group: number;
  /** The link's alias (ifalias), '' if none. */
  readonly alias: string;
  readonly mac: string;
  readonly stats: LinkStats;
}

export interface FilterId {
  readonly prio: number;
  readonly protocol: number;
  readonly handle: number;
}

export interface QdiscStats {
  readonly kind: string;
  readonly handle: number;
  readonly parent: number;
  readonly bytes: number;
  readonly packets: number;
  readonly drops: number;
  readonly overlimits: number;
  readonly qlen: number;
  readonly backlog: number;
  readonly requeues: number;
}
