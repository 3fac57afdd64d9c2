import { xmlDocument } from './xml';

/**
 * An error that the emulator sends to the client as OSS does: an HTTP status, an OSS error code, a message and
 * extra elements of the `<Error>` body (such as `Key` or `StringToSign`).
 */
export class OssServiceError extends Error {
  readonly status: number;
  readonly code: string;
  /** Extra `<Error>` elements, in the order they are written. */
  readonly details: Readonly<Record<string, string>>;
  /** OSS's error-center code (`EC` element and `x-oss-ec` header). */
  readonly ec: string;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, string> = {},
    options: ErrorOptions & { ec?: string } = {},
  ) {
    super(message, options);
    this.name = 'OssServiceError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.ec = options.ec ?? EC_BY_CODE[code] ?? PLACEHOLDER_EC;
  }
}

/**
 * EC values seen in real OSS error bodies or OSS troubleshooting pages for these codes.
 * NOTE: codes missing here get PLACEHOLDER_EC, because their real EC value could not be confirmed.
 */
const EC_BY_CODE: Record<string, string> = {
  NoSuchKey: '0026-00000001',
  FileAlreadyExists: '0026-00000002',
  SignatureDoesNotMatch: '0002-00000040',
  SecurityTokenExpired: '0002-00000007',
  EntityTooSmall: '0042-00000213',
};

const PLACEHOLDER_EC = '0000-00000000';

/** Renders the XML body OSS sends with an error. */
export function renderErrorBody(error: OssServiceError, requestId: string, hostId: string): string {
  return xmlDocument('Error', [
    ['Code', error.code],
    ['Message', error.message],
    ['RequestId', requestId],
    ['HostId', hostId],
    ...Object.entries(error.details),
    ['EC', error.ec],
  ]);
}

/** Factories for the errors the emulator raises, with OSS's status codes and messages. */
export const ossErrors = {
  noSuchBucket: (bucket: string) =>
    new OssServiceError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: bucket }),

  noSuchKey: (key: string) => new OssServiceError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key }),

  noSuchUpload: (uploadId: string) =>
    new OssServiceError(
      404,
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      { UploadId: uploadId },
    ),

  accessDenied: (message: string, details: Record<string, string> = {}) =>
    new OssServiceError(403, 'AccessDenied', message, details),

  invalidAccessKeyId: (accessKeyId: string) =>
    new OssServiceError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.', {
      OSSAccessKeyId: accessKeyId,
    }),

  securityTokenExpired: () =>
    new OssServiceError(403, 'SecurityTokenExpired', 'The security token you provided has expired.'),

  invalidSecurityToken: () =>
    new OssServiceError(403, 'InvalidSecurityToken', 'The security token you provided is invalid.'),

  signatureDoesNotMatch: (details: Record<string, string>) =>
    new OssServiceError(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      details,
    ),

  requestTimeTooSkewed: (requestTime: string, serverTime: Date) =>
    new OssServiceError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
      RequestTime: requestTime,
      ServerTime: serverTime.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_CLOCK_SKEW_MS),
    }),

  requestExpired: (expires: Date, serverTime: Date) =>
    new OssServiceError(403, 'AccessDenied', 'Request has expired.', {
      Expires: expires.toISOString(),
      ServerTime: serverTime.toISOString(),
    }),

  invalidArgument: (message: string, details: Record<string, string> = {}, ec?: string) =>
    new OssServiceError(400, 'InvalidArgument', message, details, ec === undefined ? {} : { ec }),

  invalidPartNumber: (value: string) =>
    new OssServiceError(
      400,
      'InvalidArgument',
      'Part number must be an integer between 1 and 10000, inclusive.',
      { ArgumentName: 'partNumber', ArgumentValue: value },
      { ec: '0017-00000220' },
    ),

  invalidRange: (range: string, size: number) =>
    new OssServiceError(416, 'InvalidRange', 'The requested range cannot be satisfied.', {
      RangeRequested: range,
      ActualObjectSize: String(size),
    }),

  fileAlreadyExists: (key: string) =>
    new OssServiceError(409, 'FileAlreadyExists', 'The object you specified already exists and can not be overwritten.', {
      Key: key,
    }),

  invalidDigest: (contentMd5: string) =>
    new OssServiceError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { ContentMD5: contentMd5 }),

  entityTooLarge: (maxBytes: number) =>
    new OssServiceError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.', {
      MaxSizeAllowed: String(maxBytes),
    }),

  invalidPart: (partNumber: number, etag: string) =>
    new OssServiceError(
      400,
      'InvalidPart',
      "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
      { PartNumber: String(partNumber), ETag: etag },
    ),

  invalidPartOrder: () =>
    new OssServiceError(
      400,
      'InvalidPartOrder',
      'The list of parts was not in ascending order. Parts list must specified in order by part number.',
    ),

  // The code name for EC 0042-00000213 is inferred. OSS documents only the EC and the 100 KB rule.
  entityTooSmall: (partNumber: number, size: number) =>
    new OssServiceError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.', {
      PartNumber: String(partNumber),
      ProposedSize: String(size),
      MinSizeAllowed: String(MIN_PART_BYTES),
    }),

  malformedXml: () =>
    new OssServiceError(
      400,
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema.',
    ),

  invalidObjectName: (message: string) => new OssServiceError(400, 'InvalidObjectName', message),

  notImplemented: (method: string, operation: string) =>
    new OssServiceError(501, 'NotImplemented', `The local OSS emulator does not implement ${method} ${operation}.`),

  internalError: (cause: unknown) =>
    new OssServiceError(500, 'InternalError', 'We encountered an internal error. Please try again.', {}, { cause }),
} as const;

/** The largest clock difference OSS accepts on a signed request. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

/** Smallest size of every part but the last, checked at CompleteMultipartUpload. */
export const MIN_PART_BYTES = 100 * 1024;
