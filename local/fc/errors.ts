/**
 * Error responses of the emulated FC API. The body is `{"ErrorCode": ..., "ErrorMessage": ...}` with
 * `Content-Type: application/json`, because that is what fc2 2.6.6 parses into `error.code` and its message.
 *
 * NOTE: FC's published code table lists AccessDenied, SignatureNotMatch, InvalidAccessKeyID, InvalidArgument,
 * MissingRequiredHeader, PathNotSupported, EntityTooLarge, FunctionNotFound, ResourceThrottled and
 * InternalServerError. RequestTimeTooSkewed, InvalidSecurityToken and ServiceUnavailable are guesses, and FC
 * 3.0 documents a `{Code, Message, RequestId}` error body for its own SDK. Callers should branch on the
 * HTTP status rather than on these codes.
 */

export const FcErrorCode = {
  InvalidArgument: 'InvalidArgument',
  MissingRequiredHeader: 'MissingRequiredHeader',
  PathNotSupported: 'PathNotSupported',
  EntityTooLarge: 'EntityTooLarge',
  AccessDenied: 'AccessDenied',
  SignatureNotMatch: 'SignatureNotMatch',
  InvalidAccessKeyID: 'InvalidAccessKeyID',
  InvalidSecurityToken: 'InvalidSecurityToken',
  RequestTimeTooSkewed: 'RequestTimeTooSkewed',
  FunctionNotFound: 'FunctionNotFound',
  ResourceThrottled: 'ResourceThrottled',
  InternalServerError: 'InternalServerError',
  ServiceUnavailable: 'ServiceUnavailable',
} as const;
export type FcErrorCode = (typeof FcErrorCode)[keyof typeof FcErrorCode];

/** An error that the request pipeline returns to the client instead of invoking the function. */
export interface FcApiError {
  status: number;
  code: string;
  message: string;
}

export function fcError(status: number, code: string, message: string): FcApiError {
  return { status, code, message };
}

/** Picks the error code that FC sends with an HTTP status, for injected faults that name only a status. */
export function defaultCodeForStatus(status: number): string {
  if (status === 429) return FcErrorCode.ResourceThrottled;
  if (status === 503) return FcErrorCode.ServiceUnavailable;
  if (status === 404) return FcErrorCode.FunctionNotFound;
  if (status === 403) return FcErrorCode.AccessDenied;
  if (status >= 500) return FcErrorCode.InternalServerError;
  return FcErrorCode.InvalidArgument;
}

/** Serialises an error to FC's JSON body. */
export function errorBody(error: FcApiError): Buffer {
  return Buffer.from(JSON.stringify({ ErrorCode: error.code, ErrorMessage: error.message }), 'utf8');
}
