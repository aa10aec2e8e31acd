/**
 * Which of the agent's realms require authentication, from its flags: the endpoints that read
 * state (`--authenticate_http_readonly`) and those that change it (`--authenticate_http_readwrite`),
 * both with `--authenticate_http`, checked against `--http_credentials`. A realm that requires
 * authentication without credentials to check is a flag error: the agent does not start.
 */
import { FlagError, type FlagValues } from '../../common/flags.ts';
import { type AuthRealm, HttpAuthenticator } from '../../transport/index.ts';
import type { agentFlags } from '../flags.ts';
import { READONLY_REALM, READWRITE_REALM } from './routes.ts';

type Flags = FlagValues<typeof agentFlags>;

/** The authenticator for the agent's port, or undefined when no realm requires authentication. */
export function agentAuthenticator(flags: Flags): HttpAuthenticator | undefined {
  const realms: AuthRealm[] = [];
  const wanted: [string, boolean, string][] = [
    [
      READONLY_REALM,
      flags.authenticate_http === true || flags.authenticate_http_readonly,
      flags.authenticate_http_readonly ? 'authenticate_http_readonly' : 'authenticate_http',
    ],
    [
      READWRITE_REALM,
      flags.authenticate_http === true || flags.authenticate_http_readwrite,
      flags.authenticate_http_readwrite ? 'authenticate_http_readwrite' : 'authenticate_http',
    ],
  ];
  for (const [name, on, flag] of wanted) {
    if (!on) continue;
    if (flags.http_credentials === undefined) throw new FlagError(flag, 'needs --http_credentials (the principals and secrets to check)');
    realms.push({ name, credentials: flags.http_credentials.store });
  }
  return realms.length === 0 ? undefined : new HttpAuthenticator(realms);
}
