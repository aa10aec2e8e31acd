/** v1 JSON of `CommandInfo`, its `URI`s and its `Environment`. */
import { ValidationError } from '../common/errors.ts';
import { type JsonObject, type JsonReader, decodeMessage, emitObject } from './json.ts';
import type { Mutable } from './message_fields.ts';
import type { CommandInfo, EnvironmentVariable, Uri } from './messages.ts';

export function readUri(r: JsonReader): Uri {
  const out: Mutable<Uri> = { value: r.requiredString('value'), extract: r.bool('extract') ?? true };
  const executable = r.bool('executable');
  if (executable !== undefined) out.executable = executable;
  const cache = r.bool('cache');
  if (cache !== undefined) out.cache = cache;
  const outputFile = r.string('output_file');
  if (outputFile !== undefined) out.outputFile = outputFile;
  const sha256 = r.string('sha256');
  if (sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(sha256))
      throw new ValidationError(
        r.at('sha256'),
        `field 'sha256' must be 64 hexadecimal digits (got '${sha256.length > 80 ? `${sha256.slice(0, 80)}...` : sha256}')`,
      );
    out.sha256 = sha256.toLowerCase();
  }
  return out;
}

export function encodeUri(u: Uri): JsonObject {
  return emitObject({ value: u.value, executable: u.executable, extract: u.extract, cache: u.cache, output_file: u.outputFile, sha256: u.sha256 });
}

function readVariable(r: JsonReader): EnvironmentVariable {
  const name = r.requiredString('name');
  const value = r.string('value');
  return value === undefined ? { name } : { name, value };
}

export function readCommandInfo(r: JsonReader): CommandInfo {
  const out: Mutable<CommandInfo> = {
    uris: r.repeatedMessage('uris', readUri),
    shell: r.bool('shell') ?? true,
    arguments: r.repeatedString('arguments'),
  };
  const environment = r.message('environment', (e) => ({ variables: e.repeatedMessage('variables', readVariable) }));
  if (environment !== undefined) out.environment = environment;
  const value = r.string('value');
  if (value !== undefined) out.value = value;
  const user = r.string('user');
  if (user !== undefined) out.user = user;
  return out;
}

export function encodeCommandInfo(c: CommandInfo): JsonObject {
  return emitObject({
    uris: c.uris.map(encodeUri),
    environment: c.environment && emitObject({ variables: c.environment.variables.map((v) => emitObject({ name: v.name, value: v.value })) }),
    shell: c.shell,
    value: c.value,
    arguments: c.arguments.slice(),
    user: c.user,
  });
}

export const decodeCommandInfo = (json: unknown, path = 'command'): CommandInfo => decodeMessage(json, path, readCommandInfo);
