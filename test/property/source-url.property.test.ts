/**
 * Property tests of the ProjectUrl checks: `checkSourceUrl` over generated URLs with user info, IP literals
 * in every form, odd ports, encoded and unicode host names, trailing dots and suffix tricks, and `openSource`
 * following redirects from a local server on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError } from '../../lib/errors';
import { checkSourceUrl, openSource } from '../../lib/source';
import { closeServer, listenOnLoopback } from '../../local/common/http';
import { startCountingServer } from '../e2e/helpers';

/** Written into every generated query, to check that no rejection message repeats the URL's signature. */
const SIGNATURE_MARK = 'signature-must-not-be-echoed';

/** A DNS label of a valid host name. Underscores are allowed because some real names carry them. */
const DNS_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

/**
 * Decides from first principles whether `url` may be fetched: a wildcard pattern matches one or more whole
 * DNS labels in front of its domain, anything else (an IP literal above all) matches only itself.
 */
function mayFetch(url: URL, patterns: readonly string[]): boolean {
  if (url.username !== '' || url.password !== '') return false;

  const host = url.hostname;
  const loopback = LOOPBACK.has(host);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return false;
  if (url.port !== '' && !loopback) return false;

  return patterns.some((pattern) => {
    if (!pattern.startsWith('*.') || isIP(host.replace(/^\[|\]$/g, '')) !== 0) return host === pattern;
    const domain = pattern.slice(2);
    if (!host.endsWith(`.${domain}`)) return false;
    const labels = host.slice(0, -(domain.length + 1)).split('.');
    return labels.every((label) => DNS_LABEL.test(label));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Host names
// ---------------------------------------------------------------------------------------------------------

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/);
const subdomain = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.'));

/** Hosts that only look like an aliyuncs.com subdomain. */
const suffixTrick = fc.oneof(
  fc.constantFrom(
    'aliyuncs.com',
    'evilaliyuncs.com',
    'aliyuncs.com.evil.example',
    'oss-cn-shanghai.aliyuncs.com.evil.example',
    'aliyuncs.com.',
    'b.aliyuncs.com.',
    '.aliyuncs.com',
    '..aliyuncs.com',
    'a..aliyuncs.com',
    '-.aliyuncs.com',
    '*.aliyuncs.com',
    'a*.aliyuncs.com',
    'aliyuncs.co',
    'aliyuncs.com-evil.example',
    'aliyuncs%2ecom.evil.example',
    'b.aliyuncs%2Ecom',
    '%2e.aliyuncs.com',
    '%2E%2E.aliyuncs.com',
    'b.aliyuncs.com%2e',
    'b.aliyuncs.com%00.evil.example',
    'b.aliyuncs.com%2f.evil.example',
  ),
  subdomain.map((prefix) => `${prefix}aliyuncs.com`),
  subdomain.map((prefix) => `aliyuncs.com.${prefix}`),
  subdomain.map((prefix) => `${prefix}.aliyuncs.com.${prefix}`),
);

/** Hosts written in unicode or encoded forms that a URL parser rewrites. */
const rewrittenHost = fc.oneof(
  fc.constantFrom(
    'b。aliyuncs。com',
    'b.aliyuncs.com。',
    'ｂ.ａｌｉｙｕｎｃｓ.ｃｏｍ',
    'b.аliyuncs.com',
    'b.aliyuncs.сom',
    'xn--b-ltb.aliyuncs.com',
    'xn--liyuncs-1fg.com',
    'b.xn--aliyuncs-.com',
    'B.ALIYUNCS.COM',
    'b.aliyun\tcs.com',
    'b.aliyun\ncs.com',
    'b.aliyuncs.com\u200b',
    'b\u00ad.aliyuncs.com',
    'ß.aliyuncs.com',
    'b.aliyuncs.com\u3002evil.example',
    '%62.aliyuncs.com',
    '%65vil.example',
  ),
  subdomain.map((prefix) => [...`${prefix}.aliyuncs.com`].map((char) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map((text) => `${text}.aliyuncs.com`),
);

/** Writes one IPv4 address in each form a URL parser accepts, plus IPv6 forms that embed it. */
function ipv4Forms(address: string): string[] {
  const parts = address.split('.').map(Number);
  const value = ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
  const hex = parts.map((part) => part.toString(16).padStart(4, '0')).join('');
  return [
    address,
    `${address}.`,
    String(value),
    `0x${value.toString(16)}`,
    `0${value.toString(8)}`,
    parts.map((part) => `0x${part.toString(16)}`).join('.'),
    parts.map((part) => `0${part.toString(8)}`).join('.'),
    `${parts[0]}.${(parts[1]! << 16) + (parts[2]! << 8) + parts[3]!}`,
    `${parts[0]}.${parts[1]}.${(parts[2]! << 8) + parts[3]!}`,
    `[::ffff:${address}]`,
    `[::ffff:${hex.slice(4, 8)}:${hex.slice(12, 16)}]`,
    `[0:0:0:0:0:ffff:${address}]`,
    `[::${address}]`,
    `[64:ff9b::${address}]`,
  ];
}

const ipLiteral = fc.oneof(
  fc.constantFrom('127.0.0.1', '169.254.169.254', '10.0.0.1', '100.100.100.200', '0.0.0.0').chain((address) => fc.constantFrom(...ipv4Forms(address))),
  fc.ipV4().chain((address) => fc.constantFrom(...ipv4Forms(address))),
  fc.ipV6().map((address) => `[${address}]`),
  fc.constantFrom('[::1]', '[::]', '[fe80::1%25eth0]', '[::1]:', '0x7f.1', '127.1', '2130706433', '017700000001', '0177.0.0.1'),
);

const anyHost = fc.oneof(
  { weight: 3, arbitrary: subdomain.map((prefix) => `${prefix}.aliyuncs.com`) },
  { weight: 3, arbitrary: suffixTrick },
  { weight: 3, arbitrary: rewrittenHost },
  { weight: 3, arbitrary: ipLiteral },
  { weight: 1, arbitrary: fc.constantFrom('localhost', 'LOCALHOST', 'localhost.', 'localhost.localdomain', 'sub.localhost', 'exact.example.com', 'x.exact.example.com') },
  { weight: 1, arbitrary: fc.domain() },
);

// ---------------------------------------------------------------------------------------------------------
// Whole URLs
// ---------------------------------------------------------------------------------------------------------

const scheme = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('https://', 'http://') },
  { weight: 1, arbitrary: fc.constantFrom('HTTPS://', 'https:', 'https:/', 'https:\\\\', 'https:///', '//', 'ftp://', 'file://', 'ws://', 'wss://', 'javascript://', ' https://', 'h\ttps://') },
);

const userInfo = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('user@', 'user:password@', ':password@', '@', 'b.aliyuncs.com@', 'evil.example@', 'b.aliyuncs.com:443@', 'b.aliyuncs.com\\@', '%40@'),
  },
);

const port = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.constantFrom(':443', ':0443', ':80', ':8443', ':0', ':65535', ':65536', ':99999', ':+1', ':-1', ':', ': 443') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 70_000 }).map((value) => `:${value}`) },
);

const pathAndQuery = fc.constantFrom('/project.zip', '/', '', '/@evil.example/x.zip', '\\@evil.example/', '#@evil.example', '?@evil.example').map(
  (path) => `${path}${path.includes('?') ? '&' : '?'}Expires=1&OSSAccessKeyId=id&Signature=${SIGNATURE_MARK}`,
);

const PATTERN_SETS: readonly (readonly string[])[] = [
  ['*.aliyuncs.com'],
  ['*.aliyuncs.com', '127.0.0.1'],
  ['*.oss-cn-shanghai.aliyuncs.com'],
  ['exact.example.com'],
  ['localhost'],
  ['127.0.0.1'],
  ['*.0.1', '*.1'],
];

const generatedUrl = fc.tuple(scheme, userInfo, anyHost, port, pathAndQuery).map((parts) => parts.join(''));

function tryCheck(rawUrl: string, patterns: readonly string[]): { url: URL } | { error: unknown } {
  try {
    return { url: checkSourceUrl(rawUrl, patterns) };
  } catch (error) {
    return { error };
  }
}

describe('checkSourceUrl', () => {
  it('accepts only hosts that match a pattern', () => {
    fc.assert(
      fc.property(generatedUrl, fc.constantFrom(...PATTERN_SETS), (rawUrl, patterns) => {
        const result = tryCheck(rawUrl, patterns);
        if ('error' in result) return;

        expect(mayFetch(result.url, patterns)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects with source-not-allowed and no signature', () => {
    fc.assert(
      fc.property(generatedUrl, fc.constantFrom(...PATTERN_SETS), (rawUrl, patterns) => {
        const result = tryCheck(rawUrl, patterns);
        if (!('error' in result)) return;

        expect(result.error).toBeInstanceOf(SourceError);
        expect((result.error as SourceError).reason).toBe('source-not-allowed');
        expect((result.error as SourceError).message).not.toContain(SIGNATURE_MARK);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts any https subdomain of an allowed domain', () => {
    fc.assert(
      fc.property(subdomain, fc.constantFrom('aliyuncs.com', 'oss-cn-shanghai.aliyuncs.com'), (prefix, domain) => {
        const url = checkSourceUrl(`https://${prefix}.${domain}/project.zip?Signature=x`, [`*.${domain}`]);

        expect(url.hostname).toBe(`${prefix}.${domain}`);
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------------------------

describe('openSource redirects', () => {
  let redirector: Server;
  let redirectorUrl: string;
  let redirectorRequests = 0;
  let location = '';
  let counting: Awaited<ReturnType<typeof startCountingServer>>;

  beforeAll(async () => {
    counting = await startCountingServer();
    // `/hop` redirects once more on the same (allowed) server, so that a chain of redirects is checked too.
    redirector = createServer((request, response) => {
      redirectorRequests += 1;
      response.writeHead(302, { location: request.url === '/hop' ? '/final' : location });
      response.end();
    });
    redirectorUrl = (await listenOnLoopback(redirector)).url;
  });

  afterAll(async () => {
    await counting?.close();
    if (redirector !== undefined) await closeServer(redirector);
  });

  /** Locations that all reach the counting server's port but name a host, scheme or user info not allowed. */
  function disallowedLocations(port: number): string[] {
    return [
      `http://localhost:${port}/`,
      `http://LOCALHOST:${port}/project.zip`,
      `http://localhost.:${port}/`,
      `//localhost:${port}/`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://[::ffff:7f00:1]:${port}/`,
      `http://user:password@127.0.0.1:${port}/`,
      `http://127.0.0.1@localhost:${port}/`,
      `http://127.0.0.1:${port}@localhost:${port}/`,
      `ftp://127.0.0.1:${port}/`,
      `http://b.aliyuncs.com.localhost:${port}/`,
    ];
  }

  async function failureOf(rawUrl: string): Promise<unknown> {
    return openSource(rawUrl, { allowedHosts: ['127.0.0.1'], headersTimeoutMs: 5_000 }).then(
      (opened) => {
        opened.body.destroy();
        return undefined;
      },
      (error: unknown) => error,
    );
  }

  it('rejects a redirect to localhost before connecting', async () => {
    location = `http://localhost:${counting.port}/`;

    const error = await failureOf(`${redirectorUrl}/project.zip`);

    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).reason).toBe('source-not-allowed');
    expect(counting.requests()).toBe(0);
  });

  it('rejects a redirect to an invalid URL', async () => {
    location = 'http://[';

    const error = await failureOf(`${redirectorUrl}/project.zip`);

    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).reason).toBe('source-not-allowed');
    expect((error as SourceError).message).toContain('redirected to an invalid URL');
  });

  it('rejects each disallowed target, direct or redirected', async () => {
    const hops = { direct: 0, 'one redirect': 1, 'two redirects': 2 } as const;
    const route = fc.constantFrom(...(Object.keys(hops) as (keyof typeof hops)[]));

    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...disallowedLocations(counting.port)), route, async (target, via) => {
        location = target;
        const requestsBefore = redirectorRequests;
        const start = { direct: target, 'one redirect': `${redirectorUrl}/project.zip`, 'two redirects': `${redirectorUrl}/hop` }[via];

        const error = await failureOf(start);

        expect(error).toBeInstanceOf(SourceError);
        expect((error as SourceError).reason).toBe('source-not-allowed');
        expect(redirectorRequests - requestsBefore).toBe(hops[via]);
        expect(counting.requests()).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});
