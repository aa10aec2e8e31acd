/**
 * Network links through netlink (libnl-route-3). Needs the addon built with the network
 * isolator option; without it every call throws CorralError NATIVE_FEATURE_MISSING saying how
 * to rebuild.
 */
import { requireFeature, type LinkSummary } from './native.ts';

export type { LinkSummary } from './native.ts';

export interface ListLinksOptions {
  /** A named network namespace (/run/netns/NAME); default: the caller's namespace. */
  netns?: string;
}

/** The links of a network namespace, in kernel order. Throws NativeError. */
export function listLinks(options: ListLinksOptions = {}): LinkSummary[] {
  const binding = requireFeature('networkIsolator');
  if (!binding.listLinks) throw new Error('unreachable: networkIsolator build without listLinks');
  return binding.listLinks(options.netns);
}
