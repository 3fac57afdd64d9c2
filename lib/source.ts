import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { SourceError, SourceErrorReason } from './errors';

/** Hosts that may be reached over plain http, and only when listed explicitly: local emulators. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);
const MAX_REDIRECTS = 5;

/** A response body ready to be streamed, with what the source announced about it. */
export interface OpenedSource {
  body: IncomingMessage;
  /** Content-Length in bytes; undefined when the source sent none. */
  size: number | undefined;
  /** `x-oss-hash-crc64ecma` of the whole object, when the source is OSS and sent it. */
  crc64: string | undefined;
  contentType: string | undefined;
  /** Host and path of the URL that responded, for logs and the manifest: never the query or its signature. */
  location: SourceLocation;
}

export interface SourceLocation {
  host: string;
  path: string;
}

export interface OpenSourceOptions {
  allowedHosts: readonly string[];
  /** Time allowed from the request until the response headers, in milliseconds. */
  headersTimeoutMs?: number;
  /** Maximum pause between two body chunks, in milliseconds, before the download counts as interrupted. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Host and path of `url`, without query, fragment or user info. */
export function describeUrl(url: URL): SourceLocation {
  return { host: url.host, path: decodeURIComponentSafe(url.pathname) };
}

/**
 * Checks that `rawUrl` may be downloaded: https (or http to an explicitly allowed loopback host), no user
 * info, a host that matches one of `allowedHosts`, and no port but the scheme's default (loopback excepted).
 * With `forDownload: false` an http URL on an allowed host passes too: a server-side copy reads the object
 * named by the URL inside OSS and never connects to it.
 *
 * @throws {SourceError} with reason `source-not-allowed`, naming the host and the setting to change.
 */
export function checkSourceUrl(rawUrl: string, allowedHosts: readonly string[], options: { forDownload?: boolean } = {}): URL {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch (error) {
    throw notAllowed('ProjectUrl is not a valid URL', { cause: error });
  }

  const host = url.hostname.toLowerCase();
  const where = `${url.protocol}//${url.host}`;
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'https' && scheme !== 'http') {
    throw notAllowed(`ProjectUrl uses the ${scheme} scheme, which is not allowed: only https is, and http for loopback emulators`);
  }
  if (url.username !== '' || url.password !== '') {
    throw notAllowed(`ProjectUrl ${where} carries user info, which a signed OSS URL never does`);
  }
  if (!allowedHosts.some((pattern) => hostMatches(host, pattern))) {
    throw notAllowed(`ProjectUrl host "${host}" is not allowed: add it to SOURCE_HOSTS if it is trusted`);
  }

  const loopback = LOOPBACK_HOSTS.has(host);
  if (scheme === 'http' && !loopback && options.forDownload !== false) {
    throw notAllowed(`ProjectUrl ${where} uses http: only https is allowed, except for loopback emulators`);
  }
  if (url.port !== '' && !loopback) {
    throw notAllowed(`ProjectUrl ${where} uses port ${url.port}: only the default https port is allowed`);
  }
  return url;
}

/** One DNS label of a host name: letters, digits, `-` inside, and `_`, which some real names carry. */
const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Matches a host against one SOURCE_HOSTS entry. `*.example.com` matches any subdomain of example.com but
 * neither example.com itself nor a host that merely ends in the same letters (`badexample.com`), and the
 * labels in front must be DNS labels (so not `..example.com` or `*.example.com`). An IP literal matches
 * only an entry that is the same literal.
 */
export function hostMatches(host: string, pattern: string): boolean {
  const normalisedPattern = pattern.toLowerCase();
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return host === normalisedPattern;
  if (normalisedPattern.startsWith('*.')) {
    const suffix = normalisedPattern.slice(1);
    if (!host.endsWith(suffix) || host.length <= suffix.length) return false;
    return host
      .slice(0, -suffix.length)
      .split('.')
      .every((label) => HOST_LABEL.test(label));
  }
  return host === normalisedPattern;
}

/**
 * Starts a GET of `rawUrl` and returns once the response headers are in, following redirects only to
 * allowed hosts. The body is returned unread so that the caller can stream it.
 *
 * @throws {SourceError} `source-not-allowed` before any connection to a host that is not allowed;
 *   `source-expired` for OSS's 403 "Request has expired."; `source-http-status` for another status;
 *   `source-interrupted` when the connection fails or times out.
 */
export async function openSource(rawUrl: string, options: OpenSourceOptions): Promise<OpenedSource> {
  let url = checkSourceUrl(rawUrl, options.allowedHosts);

  for (let redirects = 0; ; redirects += 1) {
    const response = await requestHeaders(url, options);
    const status = response.statusCode ?? 0;

    if (status >= 300 && status < 400 && response.headers.location !== undefined) {
      response.resume();
      if (redirects >= MAX_REDIRECTS) {
        throw new SourceError(`ProjectUrl ${format(url)} redirected more than ${MAX_REDIRECTS} times`, SourceErrorReason.HttpStatus);
      }
      url = checkSourceUrl(resolveRedirect(response.headers.location, url), options.allowedHosts);
      continue;
    }
    if (status === 200) return describeResponse(url, response);

    throw await statusError(url, response);
  }
}

/** Resolves a redirect's Location against the URL that sent it. */
function resolveRedirect(location: string, base: URL): string {
  try {
    return new URL(location, base).toString();
  } catch (error) {
    throw notAllowed(`ProjectUrl ${format(base)} redirected to an invalid URL`, { cause: error });
  }
}

function requestHeaders(url: URL, options: OpenSourceOptions): Promise<IncomingMessage> {
  const transport = url.protocol === 'https:' ? https : http;
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;

  return new Promise((resolve, reject) => {
    // No Content-Type header is sent: it is part of the string a V1-signed OSS URL's signature covers.
    const request = transport.get(url, { signal: options.signal, headers: { 'accept-encoding': 'identity' } });
    const timer = setTimeout(() => {
      request.destroy(new SourceError(`ProjectUrl ${format(url)} sent no response within ${headersTimeoutMs} ms`, SourceErrorReason.Interrupted, { retryable: true }));
    }, headersTimeoutMs);

    request.on('response', (response) => {
      clearTimeout(timer);
      request.setTimeout(idleTimeoutMs, () => {
        request.destroy(new SourceError(`ProjectUrl ${format(url)} sent nothing for ${idleTimeoutMs} ms`, SourceErrorReason.Interrupted, { retryable: true }));
      });
      resolve(response);
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(
        error instanceof SourceError
          ? error
          : new SourceError(`Request for ProjectUrl ${format(url)} failed: ${error.message}`, SourceErrorReason.Interrupted, { cause: error, retryable: true }),
      );
    });
  });
}

function describeResponse(url: URL, response: IncomingMessage): OpenedSource {
  const lengthHeader = response.headers['content-length'];
  const size = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const crc64Header = response.headers['x-oss-hash-crc64ecma'];
  return {
    body: response,
    size,
    crc64: typeof crc64Header === 'string' && /^\d+$/.test(crc64Header) ? crc64Header : undefined,
    contentType: response.headers['content-type'],
    location: describeUrl(url),
  };
}

async function statusError(url: URL, response: IncomingMessage): Promise<SourceError> {
  const status = response.statusCode ?? 0;
  const body = await readSmallBody(response, 4096);
  const ossCode = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];

  if (status === 403 && /Request has expired/i.test(body)) {
    return new SourceError(`ProjectUrl ${format(url)} has expired (HTTP 403)`, SourceErrorReason.Expired, { retryable: true });
  }
  const retryable = status >= 500 || status === 429 || status === 408;
  return new SourceError(
    `ProjectUrl ${format(url)} returned HTTP ${status}${ossCode ? ` (${ossCode})` : ''}`,
    SourceErrorReason.HttpStatus,
    { retryable },
  );
}

async function readSmallBody(response: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response) {
      const buffer = chunk as Buffer;
      if (total < maxBytes) chunks.push(buffer.subarray(0, maxBytes - total));
      total += buffer.length;
    }
  } catch {
    // The body only refines the error message; a broken error body is not worth another error.
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Host and path of `url` for messages: never the query, which carries the signature. */
function format(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function notAllowed(message: string, options: ErrorOptions = {}): SourceError {
  return new SourceError(message, SourceErrorReason.NotAllowed, options);
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
