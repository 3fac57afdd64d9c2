import { isIP } from 'node:net';
import { percentDecode } from './encoding';

/** One query parameter, decoded. `value` is undefined for a bare `name` and '' for `name=`. */
export interface QueryParam {
  name: string;
  value: string | undefined;
  nameBytes: Buffer;
  valueBytes: Buffer | undefined;
}

/** The bucket, object key and query of a request, worked out as OSS does from Host and path. */
export interface RequestTarget {
  /** Undefined for service-level requests such as ListBuckets. */
  bucket: string | undefined;
  /** Object key as UTF-8 text, or '' for bucket-level requests. */
  key: string;
  /** Object key as the percent-decoded path bytes, which signatures cover. */
  keyBytes: Buffer;
  query: QueryParam[];
  /** Host header as sent, which OSS echoes as HostId. */
  host: string;
  /** Region taken from an `oss-<region>` label of a virtual-hosted Host, such as `cn-shanghai`. */
  hostRegion: string | undefined;
  style: 'virtual-hosted' | 'path';
}

/**
 * Works out bucket and key of a request.
 *
 * When Host is a domain name, its first label is the bucket and the whole path is the key (virtual-hosted
 * style). ali-oss sends that form even to an IP endpoint, because it then fakes `Host: <bucket>.<region
 * endpoint>`. When Host is an IP address, `localhost` or a bare region endpoint, the first path segment is the
 * bucket (path style), as in the emulator's presigned URLs.
 */
export function parseTarget(url: string, hostHeader: string | undefined): RequestTarget {
  const host = hostHeader ?? '';
  const queryStart = url.indexOf('?');
  const rawPath = queryStart === -1 ? url : url.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? '' : url.slice(queryStart + 1);
  const query = parseQuery(rawQuery);
  const hostName = stripPort(host).toLowerCase();

  if (isPathStyleHost(hostName)) {
    const path = rawPath.replace(/^\//, '');
    const slash = path.indexOf('/');
    const rawBucket = slash === -1 ? path : path.slice(0, slash);
    const rawKey = slash === -1 ? '' : path.slice(slash + 1);
    const keyBytes = percentDecode(rawKey);
    const bucket = rawBucket === '' ? undefined : percentDecode(rawBucket).toString('utf8');
    return { bucket, key: keyBytes.toString('utf8'), keyBytes, query, host, hostRegion: undefined, style: 'path' };
  }

  const labels = hostName.split('.');
  const keyBytes = percentDecode(rawPath.replace(/^\//, ''));
  return {
    bucket: labels[0],
    key: keyBytes.toString('utf8'),
    keyBytes,
    query,
    host,
    hostRegion: regionOfLabel(labels[1]),
    style: 'virtual-hosted',
  };
}

/** Returns the first value of query parameter `name`, '' when it has no value, or undefined when it is absent. */
export function queryValue(target: Pick<RequestTarget, 'query'>, name: string): string | undefined {
  const param = target.query.find((candidate) => candidate.name === name);
  if (param === undefined) return undefined;
  return param.value ?? '';
}

export function hasQuery(target: Pick<RequestTarget, 'query'>, name: string): boolean {
  return target.query.some((param) => param.name === name);
}

function parseQuery(rawQuery: string): QueryParam[] {
  if (rawQuery === '') return [];

  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const nameBytes = percentDecode(equals === -1 ? pair : pair.slice(0, equals));
      const valueBytes = equals === -1 ? undefined : percentDecode(pair.slice(equals + 1));
      return {
        name: nameBytes.toString('utf8'),
        value: valueBytes?.toString('utf8'),
        nameBytes,
        valueBytes,
      };
    });
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function isPathStyleHost(hostName: string): boolean {
  if (hostName === '' || hostName === 'localhost' || isIP(hostName) !== 0) return true;
  return /^oss-[a-z0-9-]+\.aliyuncs\.com$/.test(hostName);
}

/** Returns `cn-shanghai` for the label `oss-cn-shanghai` (or `oss-cn-shanghai-internal`). */
function regionOfLabel(label: string | undefined): string | undefined {
  const match = /^oss-([a-z0-9-]+?)(?:-internal)?$/.exec(label ?? '');
  return match?.[1];
}
