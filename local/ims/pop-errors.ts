import { randomUUID } from 'node:crypto';

/**
 * Error codes of the Alibaba Cloud POP gateway and of ICE that the emulator returns.
 * The codes appear in public error-center listings and in error bodies that users have posted. Where no
 * source gives the HTTP status, the status chosen here is marked where the error is raised.
 */
export const PopErrorCode = {
  IncompleteSignature: 'IncompleteSignature',
  SignatureDoesNotMatch: 'SignatureDoesNotMatch',
  SignatureNonceUsed: 'SignatureNonceUsed',
  InvalidSignatureMethod: 'InvalidSignatureMethod',
  InvalidAccessKeyIdNotFound: 'InvalidAccessKeyId.NotFound',
  MissingSecurityToken: 'MissingSecurityToken',
  InvalidSecurityTokenMismatch: 'InvalidSecurityToken.MismatchWithAccessKey',
  InvalidSecurityTokenExpired: 'InvalidSecurityToken.Expired',
  InvalidTimeStampFormat: 'InvalidTimeStamp.Format',
  InvalidTimeStampExpired: 'InvalidTimeStamp.Expired',
  UnsupportedHttpMethod: 'UnsupportedHTTPMethod',
  InvalidActionNotFound: 'InvalidAction.NotFound',
  InvalidVersion: 'InvalidVersion',
  MissingParameter: 'MissingParameter',
  InvalidParameter: 'InvalidParameter',
  JobNotFound: 'InvalidParameter.JobNotFound',
  ThrottlingUser: 'Throttling.User',
  InternalError: 'InternalError',
  ServiceUnavailable: 'ServiceUnavailable',
} as const;

/** A rejection that the emulator sends as a POP JSON error body with `status`. */
export class PopError extends Error {
  override readonly name = 'PopError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The JSON body of a POP error, as the real gateway sends it. */
export interface PopErrorBody {
  RequestId: string;
  HostId: string;
  Code: string;
  Message: string;
  Recommend: string;
}

/** Builds the error body; `hostId` is the Host header of the request, as the gateway echoes it. */
export function popErrorBody(error: { code: string; message: string }, requestId: string, hostId: string): PopErrorBody {
  const query = new URLSearchParams({ q: error.code, product: 'ICE', requestId });
  return {
    RequestId: requestId,
    HostId: hostId,
    Code: error.code,
    Message: error.message,
    Recommend: `https://api.aliyun.com/troubleshoot?${query.toString()}`,
  };
}

/** Returns a request ID in the upper-case UUID form that POP services use. */
export function newRequestId(): string {
  return randomUUID().toUpperCase();
}

/** Default code and message of an injected error, by HTTP status. */
export function defaultErrorForStatus(status: number): { code: string; message: string } {
  if (status === 503) {
    return { code: PopErrorCode.ServiceUnavailable, message: 'The request has failed due to a temporary failure of the server.' };
  }
  if (status === 400) {
    return { code: PopErrorCode.InvalidParameter, message: 'The specified parameter is not valid.' };
  }
  return { code: PopErrorCode.InternalError, message: 'The request processing has failed due to some unknown error.' };
}

export const THROTTLING_MESSAGE = 'Request was denied due to user flow control.';
