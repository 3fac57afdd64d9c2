import { describe, expect, it } from 'vitest';
import { SourceError } from '../../lib/errors';
import { checkSourceUrl, hostMatches } from '../../lib/source';

const allowed = ['*.aliyuncs.com'];

function rejection(url: string, hosts: readonly string[] = allowed): SourceError {
  try {
    checkSourceUrl(url, hosts);
  } catch (error) {
    if (error instanceof SourceError) return error;
    throw error;
  }
  throw new Error(`expected ${url} to be rejected`);
}

describe('hostMatches', () => {
  it.each([
    { host: 'bucket.oss-cn-shanghai.aliyuncs.com', pattern: '*.aliyuncs.com', expected: true },
    { host: 'aliyuncs.com', pattern: '*.aliyuncs.com', expected: false },
    { host: 'evilaliyuncs.com', pattern: '*.aliyuncs.com', expected: false },
    { host: 'aliyuncs.com.evil.example', pattern: '*.aliyuncs.com', expected: false },
    { host: 'exact.example.com', pattern: 'exact.example.com', expected: true },
    { host: 'sub.exact.example.com', pattern: 'exact.example.com', expected: false },
    { host: '127.0.0.1', pattern: '127.0.0.1', expected: true },
    { host: '10.0.0.1', pattern: '*.aliyuncs.com', expected: false },
  ])('$host against $pattern is $expected', ({ host, pattern, expected }) => {
    expect(hostMatches(host, pattern)).toBe(expected);
  });
});

describe('checkSourceUrl', () => {
  it('accepts a signed OSS URL over https', () => {
    const url = checkSourceUrl('https://b.oss-cn-shanghai.aliyuncs.com/p/x.zip?Expires=1&OSSAccessKeyId=a&Signature=s', allowed);

    expect(url.hostname).toBe('b.oss-cn-shanghai.aliyuncs.com');
  });

  it('accepts http on an explicitly allowed loopback host', () => {
    const url = checkSourceUrl('http://127.0.0.1:9000/bucket/x.zip', ['127.0.0.1']);

    expect(url.port).toBe('9000');
  });

  it.each([
    { url: 'http://b.oss-cn-shanghai.aliyuncs.com/x.zip', reason: /uses http: only https/ },
    { url: 'https://user:pw@b.oss-cn-shanghai.aliyuncs.com/x.zip', reason: /user info/ },
    { url: 'https://b.oss-cn-shanghai.aliyuncs.com:8443/x.zip', reason: /port 8443/ },
    { url: 'https://evilaliyuncs.com/x.zip', reason: /host "evilaliyuncs.com" is not allowed/ },
    { url: 'https://10.0.0.8/x.zip', reason: /host "10.0.0.8" is not allowed/ },
    { url: 'https://[::1]/x.zip', reason: /is not allowed/ },
    { url: 'https://0x7f000001/x.zip', reason: /host "127.0.0.1" is not allowed/ },
    { url: 'https://%65vil.example/x.zip', reason: /host "evil.example" is not allowed/ },
    { url: 'file:///etc/passwd', reason: /not allowed/ },
    { url: 'not a url', reason: /not a valid URL/ },
  ])('rejects $url', ({ url, reason }) => {
    const error = rejection(url);

    expect(error.reason).toBe('source-not-allowed');
    expect(error.message).toMatch(reason);
  });

  it('rejects http to a loopback host that is not listed', () => {
    expect(rejection('http://127.0.0.1:9000/x.zip', ['*.aliyuncs.com']).message).toMatch(/not allowed/);
  });

  it('never puts the signature in the message', () => {
    const error = rejection('http://b.oss-cn-shanghai.aliyuncs.com/x.zip?Signature=secret-signature');

    expect(error.message).not.toContain('secret-signature');
  });
});
