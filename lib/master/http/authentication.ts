/**
 * Which of the master's realms require authentication, from its flags: the scheduler API
 * (`--authenticate_frameworks`), the agents' endpoints (`--authenticate_agents`, by default on
 * with `--credentials`), and the operator
 * endpoints (`--authenticate_http_readonly`, `--authenticate_http_readwrite`, or both with
 * `--authenticate_http`). A realm that requires authentication without credentials to check is a
 * flag error: the master does not start.
 */
import { FlagError, type FlagValues } from '../../common/flags.ts';
import { type AuthRealm, type CredentialsFile, HttpAuthenticator } from '../../transport/index.ts';
import { type masterFlags, registryKind } from '../flags.ts';
import { AGENT_REALM } from './agents.ts';
import { READONLY_REALM, READWRITE_REALM } from './operator.ts';
import { SCHEDULER_REALM } from './scheduler.ts';

type Flags = FlagValues<typeof masterFlags>;

/**
 * Whether agents must authenticate: `--authenticate_agents` (or `--authenticate_slaves`) when
 * given; without either, whenever `--credentials` is given (an agent that could register
 * without one could also re-register in place of a real agent). `--authenticate_agents=false`
 * opts out.
 */
export function agentsMustAuthenticate(flags: Flags): boolean {
  if (flags.authenticate_agents === true || flags.authenticate_slaves === true) return true;
  if (flags.authenticate_agents === false || flags.authenticate_slaves === false) return false;
  return flags.credentials !== undefined;
}

/** The authenticator for the master's port, or undefined when no realm requires authentication. */
export function masterAuthenticator(flags: Flags): HttpAuthenticator | undefined {
  const realms: AuthRealm[] = [];
  const add = (name: string, flag: string, file: CredentialsFile | undefined, fileFlag: string): void => {
    if (file === undefined) throw new FlagError(flag, `needs ${fileFlag} (the principals and secrets to check)`);
    realms.push({ name, credentials: file.store });
  };
  // An alias and its flag: either one switches the realm on.
  if (flags.authenticate_http_frameworks === true || flags.authenticate_frameworks) {
    add(SCHEDULER_REALM, flags.authenticate_frameworks ? 'authenticate_frameworks' : 'authenticate_http_frameworks', flags.credentials, '--credentials');
  }
  if (agentsMustAuthenticate(flags)) {
    add(AGENT_REALM, flags.authenticate_agents ? 'authenticate_agents' : 'authenticate_slaves', flags.credentials, '--credentials');
  }
  const http = flags.http_credentials ?? flags.credentials;
  if (flags.authenticate_http === true || flags.authenticate_http_readonly) {
    add(READONLY_REALM, flags.authenticate_http_readonly ? 'authenticate_http_readonly' : 'authenticate_http', http, '--http_credentials or --credentials');
  }
  if (flags.authenticate_http === true || flags.authenticate_http_readwrite) {
    add(READWRITE_REALM, flags.authenticate_http_readwrite ? 'authenticate_http_readwrite' : 'authenticate_http', http, '--http_credentials or --credentials');
  }
  return realms.length === 0 ? undefined : new HttpAuthenticator(realms);
}

/**
 * The flags as /flags and /state show them: a credentials value only as its path, and
 * `authenticate_agents` as decided (also when it follows from --credentials), `--zk` without its
 * password, and the registry as chosen.
 */
export function shownMasterFlags(flags: Flags, text: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = { ...text, authenticate_agents: String(agentsMustAuthenticate(flags)) };
  for (const name of ['credentials', 'http_credentials'] as const) {
    const f = flags[name];
    if (f !== undefined) out[name] = f.path ?? '(inline credentials, not shown)';
  }
  // The ZooKeeper password is not shown; the registry as chosen (its default follows --zk).
  if (flags.zk !== undefined) out.zk = flags.zk.redacted;
  out.registry = registryKind(flags);
  return out;
}
