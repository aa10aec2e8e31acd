/**
 * What makes a daemon run a failed test whatever the test checks: an unhandled promise
 * rejection (the daemons log UNHANDLED_REJECTION and exit 1; Node's own words when it reports
 * one itself) or a timer Node cut short (TimeoutOverflowWarning: it fires after 1 ms).
 * runCorral and AgentProcess look for these in a child's stderr; in-process daemons (cluster.ts)
 * share the ava worker, where ava itself fails the run on an unhandled rejection.
 */
import { UNHANDLED_REJECTION } from '../../lib/cli/main.ts';

const NODE_SIGNS = /UnhandledPromiseRejection|ERR_UNHANDLED_REJECTION|TimeoutOverflowWarning/;

/** The first line of `output` that shows a crash or a cut timer, if any. */
export function crashIn(output: string): string | undefined {
  return output.split('\n').find((line) => line.includes(UNHANDLED_REJECTION) || NODE_SIGNS.test(line));
}
