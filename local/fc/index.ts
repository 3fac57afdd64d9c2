export { startFcEmulator, MAX_ASYNC_PAYLOAD_BYTES, MAX_SYNC_PAYLOAD_BYTES } from './server';
export type { FcEmulator, FcEmulatorOptions } from './server';
export { InvocationOutcome, InvocationType } from './runtime';
export type { FcInvocation, InvocationAttempt, RegisterOptions } from './runtime';
export { FcErrorCode } from './errors';
export { FcApiVersion } from './routes';
export type { InvocationRoute } from './routes';
export { composeStringToSign, computeAuthorization, contentMd5Matches, parseAuthorization, signStringToSign } from './signature';
