import OSS from 'ali-oss';
import type { Config } from './config';
import type { Credentials } from './credentials';
import { OssError, messageOf } from './errors';
import type { Logger } from './log';
import { withRetry } from './retry';

/** An object as written to the destination bucket, as the manifest records it. */
export interface WrittenObject {
  key: string;
  size: number;
  etag: string;
  /** CRC-64/XZ of the object's bytes as an unsigned decimal, as OSS reports it in `x-oss-hash-crc64ecma`. */
  crc64: string;
  contentType: string;
}

export interface ObjectHead {
  size: number;
  etag: string;
  crc64: string | undefined;
  contentType: string | undefined;
  meta: Record<string, string>;
}

export interface WriteOptions {
  contentType: string;
  /** User metadata, sent as `x-oss-meta-<name>` headers. */
  meta?: Record<string, string>;
  /** Fails with 409 FileAlreadyExists instead of replacing an object that already exists. */
  forbidOverwrite?: boolean;
  /** Whole-request deadline in milliseconds (ali-oss's `timeout` is not an idle timer). */
  timeoutMs?: number;
}

/** Response headers of an ali-oss result; ali-oss keeps the ETag and checksums only there. */
type ResponseHeaders = Record<string, string | undefined>;

/**
 * The customer's bucket, reached through `ali-oss` with V4 signatures. Every ali-oss failure is turned into
 * an `OssError` that names the key and records whether a retry may succeed.
 */
type BucketSettings = Pick<Config, 'ossBucket' | 'ossRegion' | 'ossEndpoint' | 'ossInternal'>;

/** Credentials, or a function that returns the current ones (read again when OSS reports them expired). */
export type CredentialSource = Credentials | (() => Credentials);

/** OSS error codes after which fresh credentials may make the same request succeed. */
const CREDENTIAL_ERRORS = new Set(['SecurityTokenExpired', 'InvalidSecurityToken', 'InvalidAccessKeyId']);

export class OssBucket {
  readonly client: OSS;
  readonly bucket: string;
  readonly #settings: BucketSettings;
  readonly #credentialSource: CredentialSource;
  #credentials: Credentials;
  /** Counts credential renewals, so that a request can tell whether it was signed with older ones. */
  #credentialGeneration = 0;

  constructor(config: BucketSettings, credentials: CredentialSource) {
    this.bucket = config.ossBucket;
    this.#settings = config;
    this.#credentialSource = credentials;
    this.#credentials = typeof credentials === 'function' ? credentials() : credentials;
    const current = this.#credentials;
    this.client = new OSS({
      accessKeyId: current.accessKeyId,
      accessKeySecret: current.accessKeySecret,
      bucket: config.ossBucket,
      region: config.ossRegion,
      authorizationV4: true,
      secure: true,
      timeout: 60_000,
      ...(config.ossEndpoint === undefined ? { internal: config.ossInternal } : { endpoint: config.ossEndpoint }),
      ...(current.securityToken === undefined
        ? {}
        : {
            stsToken: current.securityToken,
            // ali-oss warns on every construction with a token but no refresh function. Expired credentials
            // are replaced by `#refreshCredentials` when OSS rejects them, so its own timer never fires.
            refreshSTSToken: async () => ({
              accessKeyId: this.#credentials.accessKeyId,
              accessKeySecret: this.#credentials.accessKeySecret,
              stsToken: this.#credentials.securityToken ?? '',
            }),
            refreshSTSTokenInterval: 24 * 3_600_000,
          }),
    });
  }

  /** Returns a client for another bucket of the same region, endpoint and credentials. */
  forBucket(name: string): OssBucket {
    return new OssBucket({ ...this.#settings, ossBucket: name }, this.#credentialSource);
  }

  /** Reads an object's size and checksums, or returns undefined when it does not exist. */
  async head(key: string): Promise<ObjectHead | undefined> {
    const result = await this.request('HEAD', key, () => this.client.head(key), { notFound: undefined as undefined });
    if (result === undefined) return undefined;
    const headers = result.res.headers as ResponseHeaders;
    return {
      size: Number(headers['content-length'] ?? 0),
      etag: unquote(headers.etag),
      crc64: headers['x-oss-hash-crc64ecma'],
      contentType: headers['content-type'],
      meta: (result.meta ?? {}) as Record<string, string>,
    };
  }

  /** Reads a small object as text, or returns undefined when it does not exist. */
  async getText(key: string): Promise<string | undefined> {
    const result = await this.request('GET', key, () => this.client.get(key), { notFound: undefined as undefined });
    return result === undefined ? undefined : Buffer.from(result.content as Buffer).toString('utf8');
  }

  /** Writes a whole object from memory with one PutObject (Content-MD5 checked by OSS). */
  async putBuffer(key: string, body: Buffer, options: WriteOptions): Promise<{ etag: string; crc64: string | undefined }> {
    const putOptions = { mime: options.contentType, headers: writeHeaders(options), timeout: options.timeoutMs ?? 60_000 } as OSS.PutObjectOptions;
    const result = await this.request('PUT', key, () => this.client.put(key, body, putOptions));
    const headers = result.res.headers as ResponseHeaders;
    return { etag: unquote(headers.etag), crc64: headers['x-oss-hash-crc64ecma'] };
  }

  /** Lists one page of keys under `prefix` in key order (ListObjectsV2). */
  async listPage(prefix: string, options: { maxKeys: number; continuationToken?: string }): Promise<{ keys: string[]; nextContinuationToken: string | undefined }> {
    const query = {
      prefix,
      'max-keys': options.maxKeys,
      ...(options.continuationToken === undefined ? {} : { 'continuation-token': options.continuationToken }),
    };
    const result = await this.request('LIST', prefix, () => this.client.listV2(query, { timeout: 30_000 }));
    const keys = (result.objects ?? []).map((object) => object.name);
    return { keys, nextContinuationToken: result.isTruncated ? result.nextContinuationToken : undefined };
  }

  async delete(key: string): Promise<void> {
    await this.request('DELETE', key, () => this.client.delete(key), { notFound: undefined as undefined });
  }

  /**
   * Runs one ali-oss request, retrying what may succeed later: network errors (OSS closes idle keep-alive
   * connections, so a reused socket can fail with ECONNRESET), 5xx and throttling, and expired credentials
   * once fresh ones are available. With `notFound`, a 404 NoSuchKey returns that value instead of throwing.
   * Callers send only idempotent requests, or ones whose repetition they handle (such as a 409 from
   * `x-oss-forbid-overwrite` after a lost response).
   */
  async request<T, F = never>(operation: string, key: string, send: () => Promise<T>, options: RequestOptions<F> = {}): Promise<T | F> {
    return withRetry(
      async () => {
        const generation = this.#credentialGeneration;
        try {
          return await send();
        } catch (error) {
          if ('notFound' in options && isNotFound(error)) return options.notFound as F;
          const ossError = error instanceof OssError ? error : toOssError(operation, key, error);
          if (!ossError.retryable && this.#credentialsRenewed(ossError, generation)) {
            throw new OssError(ossError.message, ossError, { cause: error, retryable: true });
          }
          throw ossError;
        }
      },
      {
        attempts: options.attempts ?? 4,
        baseDelayMs: 200,
        maxDelayMs: 5_000,
        isRetryable: (error) => error instanceof OssError && error.retryable,
        ...(options.logger === undefined
          ? {}
          : { onRetry: (error: unknown, attempt: number, delayMs: number) => options.logger!.warn('OSS request failed, retrying', { operation, key, attempt, delay_ms: delayMs, error }) }),
      },
    );
  }

  /**
   * Returns true when a request rejected for its credentials can be sent again with newer ones: either another
   * request renewed them since this one started (parts run in parallel), or the credential source now returns
   * different ones.
   */
  #credentialsRenewed(error: OssError, generationAtStart: number): boolean {
    if (typeof this.#credentialSource !== 'function' || !CREDENTIAL_ERRORS.has(error.code ?? '')) return false;
    if (generationAtStart !== this.#credentialGeneration) return true;

    const fresh = this.#credentialSource();
    if (fresh.accessKeyId === this.#credentials.accessKeyId && fresh.securityToken === this.#credentials.securityToken) return false;
    this.#credentials = fresh;
    this.#credentialGeneration += 1;
    // ali-oss reads its credentials from `options` on every request (ali-oss 6.23, lib/client.js).
    Object.assign((this.client as unknown as { options: object }).options, {
      accessKeyId: fresh.accessKeyId,
      accessKeySecret: fresh.accessKeySecret,
      stsToken: fresh.securityToken,
    });
    return true;
  }
}

export interface RequestOptions<F> {
  /** Value returned for a 404 NoSuchKey instead of throwing. */
  notFound?: F;
  /** Attempts, the first included. Default 4. */
  attempts?: number;
  /** Logs each retry when given. */
  logger?: Logger;
}

/** Headers for a write: user metadata as `x-oss-meta-*` and, when asked, `x-oss-forbid-overwrite`. */
export function writeHeaders(options: Pick<WriteOptions, 'meta' | 'forbidOverwrite'>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.meta ?? {})) headers[`x-oss-meta-${name}`] = value;
  if (options.forbidOverwrite) headers['x-oss-forbid-overwrite'] = 'true';
  return headers;
}

/** Fields of the errors ali-oss 6 throws: `status` is -1 or -2 for network errors and absent on a response timeout. */
interface AliOssError {
  name?: string;
  code?: string;
  status?: number;
  requestId?: string;
}

/** Wraps an ali-oss error, keeping it as `cause`. */
export function toOssError(operation: string, key: string, error: unknown): OssError {
  const details = (error ?? {}) as AliOssError;
  const status = typeof details.status === 'number' ? details.status : undefined;
  const code = details.code ?? details.name;
  const statusText = status === undefined || status < 0 ? 'failed' : `returned HTTP ${status}`;
  return new OssError(
    `OSS ${operation} of "${key}" ${statusText}${code ? ` (${code})` : ''}: ${messageOf(error)}`,
    { key, code, ...(status === undefined ? {} : { status }) },
    { cause: error, retryable: isRetryableOssFailure(status, code) },
  );
}

function isRetryableOssFailure(status: number | undefined, code: string | undefined): boolean {
  if (status === undefined || status < 0) return true;
  if (status >= 500 || status === 429 || status === 408) return true;
  // A skewed clock may be corrected by the next attempt's fresh date header.
  return code === 'RequestTimeTooSkewed';
}

function isNotFound(error: unknown): boolean {
  const details = (error ?? {}) as AliOssError;
  return details.status === 404 && (details.code === 'NoSuchKey' || details.name === 'NoSuchKeyError');
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}
