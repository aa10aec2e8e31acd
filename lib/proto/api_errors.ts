/**
 * The errors of the v1 API call decoders (scheduler, executor): an ApiValidationError carries
 * Mesos's exact text and which Mesos step refused the message.
 */
import { type ErrorCode, ValidationError } from '../common/errors.ts';
import { type JsonReader, decodeMessage } from './json.ts';

/**
 * Which step refused a v1 API message: turning the JSON into the proto message (Mesos answers
 * 400 `Failed to convert JSON into Call protobuf: <reason>`), validating the call (400 `Failed
 * to validate scheduler::Call: <reason>`, or `executor::Call`), or a well-formed message of a
 * type Corral does not implement (a call: Mesos answers 501 Not Implemented).
 */
export type ApiErrorStage = 'convert' | 'validate' | 'unsupported';

/**
 * A ValidationError from the v1 API call decoders whose `message` is exactly Mesos's text
 * (`Missing required fields: subscribe.framework_info.user`, `Not expecting a JSON number for
 * field 'type'`, `Expecting 'framework_id' to be present`), so an HTTP handler can send it as
 * the 400 body. `field` holds the full dotted path of the offending field; `stage` says which
 * Mesos step the error belongs to.
 */
export class ApiValidationError extends ValidationError {
  readonly stage: ApiErrorStage;

  constructor(stage: ApiErrorStage, field: string, reason: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(field, reason, options);
    this.name = 'ApiValidationError';
    this.stage = stage;
    // Mesos's text is the reason alone, without the field prefix a ValidationError carries.
    this.message = reason;
  }
}

/**
 * A well-formed call or event of a type the model does not carry (executor UNKNOWN, scheduler
 * INVERSE_OFFERS, executor LAUNCH_GROUP, …): stage 'unsupported', code `UNSUPPORTED`.
 */
export function unsupportedType(kind: 'call' | 'event', name: string): ApiValidationError {
  return new ApiValidationError('unsupported', 'type', `Received an unsupported ${kind} type: ${name}`, { code: 'UNSUPPORTED' });
}

/** A call validation error (Mesos's `validation::…::call::validate`). */
export function validationFailure(field: string, reason: string): ApiValidationError {
  return new ApiValidationError('validate', field, reason);
}

/**
 * Decode a top-level API message with `read`, turning any reader error into an
 * ApiValidationError of stage 'convert' whose message is the bare stout text. A body that is
 * not a JSON object is `Expecting a JSON object`, as stout says.
 */
export function convertApiMessage<T>(json: unknown, read: (r: JsonReader) => T): T {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ApiValidationError('convert', 'call', 'Expecting a JSON object');
  }
  try {
    return decodeMessage(json, '', read);
  } catch (e) {
    if (e instanceof ValidationError && !(e instanceof ApiValidationError)) {
      throw new ApiValidationError('convert', e.field, e.reason, { code: e.code, cause: e.cause });
    }
    throw e;
  }
}

/** Whether `b64` (already checked to be base64) holds exactly 16 bytes, a status update UUID. */
export function isUuidBytes(b64: string): boolean {
  // 16 bytes are 24 base64 characters ending in '=='; a valid base64 text of that length
  // with that padding always holds 16 bytes.
  return b64.length === 24 && b64.endsWith('==') && !b64.endsWith('===');
}
