import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, redact, redactText, setLogSink, type LogSink } from '../../lib/log';

describe('redactText', () => {
  it('masks V1 presigned URL credentials', () => {
    const text = redactText('GET http://h/b/k.zip?OSSAccessKeyId=LTAIabc&Expires=17&Signature=abc%2Bdef&security-token=CAIStok');

    expect(text).toBe('GET http://h/b/k.zip?OSSAccessKeyId=***&Expires=17&Signature=***&security-token=***');
  });

  it('masks V4 presigned URL credentials', () => {
    const text = redactText('https://h/k?x-oss-credential=AK%2F2025&x-oss-signature=ff00&x-oss-security-token=tok');

    expect(text).not.toMatch(/AK%2F2025|ff00|=tok/);
  });

  it('masks a callback token in a query', () => {
    expect(redactText('/callback?token=s3cr3t-value&x=1')).toBe('/callback?token=***&x=1');
  });
});

describe('redact', () => {
  it('masks fields named like secrets at any depth', () => {
    const value = redact({ credentials: { accessKeySecret: 'x' }, nested: { securityToken: 't', AuthKey: 'k', plain: 'p' } });

    expect(value).toEqual({ credentials: '***', nested: { securityToken: '***', AuthKey: '***', plain: 'p' } });
  });

  it('serialises errors with cause, redacting messages', () => {
    const cause = Object.assign(new Error('GET /k?Signature=sig failed'), { status: 503 });
    const error = new Error('outer', { cause });

    expect(redact(error)).toEqual({ name: 'Error', message: 'outer', cause: { name: 'Error', message: 'GET /k?Signature=*** failed', status: 503 } });
  });
});

describe('createLogger', () => {
  let previous: LogSink | undefined;
  afterEach(() => {
    if (previous) setLogSink(previous);
  });

  it('writes one JSON line per event with base fields', () => {
    const lines: string[] = [];
    previous = setLogSink((line) => lines.push(line));

    createLogger('info', { request_id: 'r-1' }).child({ job_id: 'j-1' }).info('Sync started', { attempt: 1 });

    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', message: 'Sync started', request_id: 'r-1', job_id: 'j-1', attempt: 1 });
  });

  it('drops lines below the level', () => {
    const lines: string[] = [];
    previous = setLogSink((line) => lines.push(line));

    createLogger('warn').info('ignored');

    expect(lines).toHaveLength(0);
  });
});
