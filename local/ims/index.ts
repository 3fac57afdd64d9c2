export { ImsEmulator, startImsEmulator, ICE_API_VERSION, type ImsEmulatorOptions } from './emulator';
export {
  DEFAULT_SCRIPT,
  DEFAULT_PROJECT_SIZE,
  DEFAULT_URL_LIFETIME_SECONDS,
  ExportJobStatus,
  ExportType,
  FieldShape,
  generateProjectBytes,
  type CreateJobOptions,
  type ExportJobSnapshot,
  type ProjectFileOptions,
  type ProjectObject,
  type ProjectUrlPolicy,
  type StatusStep,
} from './jobs';
export type { ImsObjectStore, UrlSigningCredentials } from './object-store';
export {
  DEFAULT_CALLBACK_EVENT_TYPE,
  DEFAULT_CALLBACK_USER_ID,
  IMS_DELIVERY_RULE,
  formatEventTime,
  iceCallbackSignature,
  sendIceCallback,
  type CallbackAttempt,
  type CallbackDelivery,
  type DeliveryRule,
  type SendCallbackOptions,
} from './callback';
export { authenticate, MAX_CLOCK_SKEW_MS, SignatureScheme, type AuthenticatedCaller, type SignedRequest } from './authenticate';
export {
  ACS3_ALGORITHM,
  acs3CanonicalRequest,
  acs3Signature,
  acs3StringToSign,
  canonicalQueryString,
  parseAcs3Authorization,
  percentEncode,
  rpcV1Signature,
  rpcV1StringToSign,
  sha256Hex,
} from './signing';
export { PopError, PopErrorCode, type PopErrorBody } from './pop-errors';
