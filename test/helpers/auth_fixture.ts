/**
 * Principals and secrets for the authentication tests, and the files the daemons read them from
 * (mode 600, as an operator keeps them: a file others can read draws a warning).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { basicAuthorization } from '../../lib/transport/index.ts';

export const SECRETS = { ops: 'ops-s3cret', web: 'web-s3cret', agent: 'agent-s3cret' } as const;

/** The Authorization header of `principal` (its secret from SECRETS unless another is given). */
export const basic = (principal: string, secret: string = SECRETS[principal as keyof typeof SECRETS]) => ({
  Authorization: basicAuthorization({ principal, secret }),
});

/** Write `text` to dir/name, readable by its owner only; the path. */
export function writePrivate(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, 0o600);
  return p;
}

/** The common files: the credentials file with every principal, and the agent's credential. */
export function commonAuthFiles(dir: string): { credentials: string; agentCredential: string } {
  return {
    credentials: writePrivate(
      dir,
      'credentials',
      Object.entries(SECRETS)
        .map(([p, s]) => `${p} ${s}`)
        .join('\n') + '\n',
    ),
    agentCredential: writePrivate(dir, 'agent-credential.json', JSON.stringify({ principal: 'agent', secret: SECRETS.agent })),
  };
}
