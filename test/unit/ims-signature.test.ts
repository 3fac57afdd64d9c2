import { describe, expect, it } from 'vitest';
import type { CredentialCheck } from '../../local/common/credentials';
import { authenticate, type SignedRequest } from '../../local/ims/authenticate';
import { PopError } from '../../local/ims/pop-errors';
import {
  acs3CanonicalRequest,
  acs3Signature,
  acs3StringToSign,
  canonicalQueryString,
  parseAcs3Authorization,
  percentEncode,
  rpcV1Signature,
  rpcV1StringToSign,
  sha256Hex,
  type Parameter,
} from '../../local/ims/signing';

// Test vectors: the expected signatures below were produced by @alicloud/openapi-client 0.4.15 (with
// @alicloud/openapi-util 0.3.3) for the inputs next to them, and an independent implementation agreed.
const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ACS3_VECTOR = {
  accessKeyId: 'testAKID',
  secret: 'testSecret',
  query: [['JobId', 'job-123']] as Parameter[],
  headers: {
    host: 'ice.cn-shanghai.aliyuncs.com',
    'x-acs-action': 'GetProjectExportJob',
    'x-acs-version': '2020-11-09',
    'x-acs-date': '2025-01-01T00:00:00Z',
    'x-acs-signature-nonce': '0123456789abcdef0123456789abcdef',
    'x-acs-content-sha256': EMPTY_BODY_SHA256,
    'x-acs-credentials-provider': 'static_ak',
  } as Record<string, string>,
  signature: '692433530800f6fce4aebffb3d5e954579448e9b86f89ae20b57c5e64bceae91',
};
const RPC_V1_VECTOR = {
  parameters: [
    ['AccessKeyId', 'testAKID'],
    ['Action', 'GetProjectExportJob'],
    ['Format', 'json'],
    ['JobId', 'job-123'],
    ['SignatureMethod', 'HMAC-SHA1'],
    ['SignatureNonce', 'nonce-1'],
    ['SignatureVersion', '1.0'],
    ['Timestamp', '2025-01-01T00:00:00Z'],
    ['Version', '2020-11-09'],
  ] as Parameter[],
  signature: 'FJ4/a2eDnfHYzCtv1+A8c7fhk3A=',
};
const VECTOR_TIME_MS = Date.parse('2025-01-01T00:05:00Z');

/** Knows only the vector's AccessKey, as a CredentialStore holding it would. */
const vectorCredentials = {
  check(accessKeyId: string, securityToken: string | undefined): CredentialCheck {
    if (accessKeyId !== 'testAKID') return { ok: false, reason: 'unknown-access-key' };
    if (securityToken) return { ok: false, reason: 'invalid-token' };
    return { ok: true, record: { accessKeyId, accessKeySecret: 'testSecret' } };
  },
};

function vectorCanonicalRequest(): string {
  return acs3CanonicalRequest({
    method: 'POST',
    path: '/',
    query: ACS3_VECTOR.query,
    headers: ACS3_VECTOR.headers,
    signedHeaders: Object.keys(ACS3_VECTOR.headers),
    payloadHash: EMPTY_BODY_SHA256,
  });
}

function acs3Request(overrides: { headers?: Record<string, string>; body?: Buffer; signature?: string } = {}): SignedRequest {
  const headers = { ...ACS3_VECTOR.headers, ...overrides.headers };
  const signedHeaders = Object.keys(ACS3_VECTOR.headers).sort().join(';');
  const signature = overrides.signature ?? ACS3_VECTOR.signature;
  return {
    method: 'POST',
    path: '/',
    query: ACS3_VECTOR.query,
    formParameters: [],
    headers: {
      ...headers,
      authorization: `ACS3-HMAC-SHA256 Credential=testAKID,SignedHeaders=${signedHeaders},Signature=${signature}`,
    },
    body: overrides.body ?? Buffer.alloc(0),
  };
}

function rpcV1Request(signature = RPC_V1_VECTOR.signature): SignedRequest {
  return {
    method: 'POST',
    path: '/',
    query: [...RPC_V1_VECTOR.parameters, ['Signature', signature]],
    formParameters: [],
    headers: { host: 'ice.cn-shanghai.aliyuncs.com' },
    body: Buffer.alloc(0),
  };
}

function rejectionOf(request: SignedRequest, nowMs = VECTOR_TIME_MS): PopError {
  try {
    authenticate(request, { credentials: vectorCredentials, nowMs });
  } catch (error) {
    if (error instanceof PopError) return error;
    throw error;
  }
  throw new Error('authenticate() accepted the request');
}

describe('percentEncode', () => {
  it('encodes the characters encodeURIComponent leaves', () => {
    expect(percentEncode("!'()*")).toBe('%21%27%28%29%2A');
  });

  it('keeps tilde literal', () => {
    expect(percentEncode('a~b')).toBe('a~b');
  });

  it('encodes space as %20', () => {
    expect(percentEncode('a b')).toBe('a%20b');
  });
});

describe('canonicalQueryString', () => {
  it('sorts parameters by name', () => {
    expect(canonicalQueryString([['b', '2'], ['a', '1']])).toBe('a=1&b=2');
  });

  it('encodes names and values strictly', () => {
    expect(canonicalQueryString([['Job Id', '(x)']])).toBe('Job%20Id=%28x%29');
  });
});

describe('acs3CanonicalRequest', () => {
  it('leaves an empty line after the headers', () => {
    const lines = vectorCanonicalRequest().split('\n');
    expect(lines[lines.length - 3]).toBe('');
  });

  it('ends with the payload hash', () => {
    expect(vectorCanonicalRequest().endsWith(`\n${EMPTY_BODY_SHA256}`)).toBe(true);
  });
});

describe('acs3Signature', () => {
  it('matches the library vector', () => {
    const signature = acs3Signature(acs3StringToSign(vectorCanonicalRequest()), ACS3_VECTOR.secret);
    expect(signature).toBe(ACS3_VECTOR.signature);
  });

  it('hashes an empty body to the known SHA-256', () => {
    expect(sha256Hex('')).toBe(EMPTY_BODY_SHA256);
  });
});

describe('parseAcs3Authorization', () => {
  it('reads credential, headers and signature', () => {
    const parsed = parseAcs3Authorization('ACS3-HMAC-SHA256 Credential=AK1,SignedHeaders=host;x-acs-date,Signature=abc');
    expect(parsed).toEqual({ algorithm: 'ACS3-HMAC-SHA256', accessKeyId: 'AK1', signedHeaders: ['host', 'x-acs-date'], signature: 'abc' });
  });

  it('rejects a value without a signature', () => {
    expect(parseAcs3Authorization('ACS3-HMAC-SHA256 Credential=AK1,SignedHeaders=host')).toBeUndefined();
  });
});

describe('rpcV1Signature', () => {
  it('matches the library vector', () => {
    const signature = rpcV1Signature(rpcV1StringToSign('POST', RPC_V1_VECTOR.parameters), 'testSecret');
    expect(signature).toBe(RPC_V1_VECTOR.signature);
  });

  it('leaves Signature out of the string to sign', () => {
    const withSignature = rpcV1StringToSign('POST', [...RPC_V1_VECTOR.parameters, ['Signature', 'x']]);
    expect(withSignature).toBe(rpcV1StringToSign('POST', RPC_V1_VECTOR.parameters));
  });
});

describe('authenticate', () => {
  it('accepts the ACS3 vector request', () => {
    const caller = authenticate(acs3Request(), { credentials: vectorCredentials, nowMs: VECTOR_TIME_MS });
    expect(caller).toEqual({ accessKeyId: 'testAKID', scheme: 'ACS3-HMAC-SHA256', nonce: '0123456789abcdef0123456789abcdef' });
  });

  it('accepts the v1 vector request', () => {
    const caller = authenticate(rpcV1Request(), { credentials: vectorCredentials, nowMs: VECTOR_TIME_MS });
    expect(caller).toEqual({ accessKeyId: 'testAKID', scheme: 'HMAC-SHA1', nonce: 'nonce-1' });
  });

  it('rejects a tampered signed header', () => {
    const error = rejectionOf(acs3Request({ headers: { 'x-acs-action': 'SubmitProjectExportJob' } }));
    expect(error.code).toBe('SignatureDoesNotMatch');
    expect(error.status).toBe(400);
  });

  it('puts its string to sign in the mismatch message', () => {
    const error = rejectionOf(acs3Request({ signature: '0'.repeat(64) }));
    expect(error.message).toContain(acs3StringToSign(vectorCanonicalRequest()));
  });

  it('rejects a body that does not match its hash', () => {
    const error = rejectionOf(acs3Request({ body: Buffer.from('JobId=other') }));
    expect(error.code).toBe('SignatureDoesNotMatch');
    expect(error.message).toContain('x-acs-content-sha256');
  });

  it('rejects an unsigned x-acs header', () => {
    const request = acs3Request();
    request.headers['x-acs-extra'] = 'value';
    expect(rejectionOf(request).code).toBe('IncompleteSignature');
  });

  it('rejects an unknown AccessKey with 404', () => {
    const request = acs3Request();
    request.headers['authorization'] = request.headers['authorization']!.replace('testAKID', 'otherAKID');
    const error = rejectionOf(request);
    expect(error.code).toBe('InvalidAccessKeyId.NotFound');
    expect(error.status).toBe(404);
  });

  it('rejects an ACS3 date 16 minutes old', () => {
    const error = rejectionOf(acs3Request(), Date.parse('2025-01-01T00:16:00Z'));
    expect(error.code).toBe('InvalidTimeStamp.Expired');
  });

  it('rejects a v1 timestamp 16 minutes ahead', () => {
    const error = rejectionOf(rpcV1Request(), Date.parse('2024-12-31T23:44:00Z'));
    expect(error.code).toBe('InvalidTimeStamp.Expired');
  });

  it('rejects a wrong v1 signature', () => {
    const error = rejectionOf(rpcV1Request('AAAAAAAAAAAAAAAAAAAAAAAAAAA='));
    expect(error.code).toBe('SignatureDoesNotMatch');
    expect(error.message).toContain('POST&%2F&AccessKeyId%3DtestAKID');
  });

  it('rejects an unsigned request', () => {
    const request: SignedRequest = { ...rpcV1Request(), query: [['JobId', 'job-123']] };
    expect(rejectionOf(request).code).toBe('IncompleteSignature');
  });
});
