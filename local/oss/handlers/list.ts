import { ossErrors } from '../errors';
import { xmlReply } from '../reply';
import { compareKeys, type BucketState, type ObjectRecord } from '../store';
import { queryValue, type RequestTarget } from '../target';
import { xmlDocument, type XmlNode } from '../xml';
import { quoted, type OperationHandler } from './context';

/** One listed item: an object, or a common prefix that groups keys sharing it up to the delimiter. */
type ListEntry = { kind: 'object'; record: ObjectRecord } | { kind: 'prefix'; prefix: string };

interface ListRequest {
  prefix: string;
  delimiter: string;
  /** List only keys after this one. */
  after: string | undefined;
  /** Skip keys under this common prefix, which the previous page already returned. */
  skipUnder: string | undefined;
  maxKeys: number;
}

interface ListPage {
  entries: ListEntry[];
  truncated: boolean;
}

/** ListObjectsV2 (`GET /?list-type=2`), paged with an opaque continuation token. */
export const listObjectsV2: OperationHandler = async ({ target, bucket }) => {
  const prefix = queryValue(target, 'prefix') ?? '';
  const delimiter = queryValue(target, 'delimiter') ?? '';
  const startAfter = queryValue(target, 'start-after');
  const token = queryValue(target, 'continuation-token');
  const encodeUrl = encodingTypeOf(target);
  const maxKeys = maxKeysOf(target);

  const position = token === undefined ? { after: startAfter, skipUnder: undefined } : decodeToken(token);
  const page = listPage(bucket, { prefix, delimiter, maxKeys, ...position });
  const encode = (text: string) => (encodeUrl ? encodeURIComponent(text) : text);

  const children: XmlNode[] = [
    ['Name', bucket.name],
    ['Prefix', encode(prefix)],
    ...(startAfter === undefined ? [] : [['StartAfter', encode(startAfter)] as const]),
    ...(token === undefined ? [] : [['ContinuationToken', token] as const]),
    ['MaxKeys', maxKeys],
    ['Delimiter', encode(delimiter)],
    ...(encodeUrl ? [['EncodingType', 'url'] as const] : []),
    ['IsTruncated', page.truncated],
    ...(page.truncated ? [['NextContinuationToken', encodeToken(page.entries.at(-1)!)] as const] : []),
    ['KeyCount', page.entries.length],
    ...entryNodes(page.entries, encode, queryValue(target, 'fetch-owner') === 'true'),
  ];
  return xmlReply(xmlDocument('ListBucketResult', children));
};

/** ListObjects, the first version (`GET /`), paged with `marker`. */
export const listObjects: OperationHandler = async ({ target, bucket }) => {
  const prefix = queryValue(target, 'prefix') ?? '';
  const delimiter = queryValue(target, 'delimiter') ?? '';
  const marker = queryValue(target, 'marker') ?? '';
  const encodeUrl = encodingTypeOf(target);
  const maxKeys = maxKeysOf(target);

  const skipUnder = isCommonPrefix(marker, prefix, delimiter) ? marker : undefined;
  const page = listPage(bucket, { prefix, delimiter, maxKeys, after: marker || undefined, skipUnder });
  const encode = (text: string) => (encodeUrl ? encodeURIComponent(text) : text);
  const last = page.entries.at(-1);

  const children: XmlNode[] = [
    ['Name', bucket.name],
    ['Prefix', encode(prefix)],
    ['Marker', encode(marker)],
    ['MaxKeys', maxKeys],
    ['Delimiter', encode(delimiter)],
    ...(encodeUrl ? [['EncodingType', 'url'] as const] : []),
    ['IsTruncated', page.truncated],
    ...(page.truncated && last !== undefined ? [['NextMarker', encode(entryName(last))] as const] : []),
    ...entryNodes(page.entries, encode, true),
  ];
  return xmlReply(xmlDocument('ListBucketResult', children));
};

function listPage(bucket: BucketState, request: ListRequest): ListPage {
  const entries: ListEntry[] = [];
  let lastPrefix: string | undefined;

  for (const key of bucket.sortedKeys()) {
    if (!key.startsWith(request.prefix)) continue;
    if (request.after !== undefined && compareKeys(key, request.after) <= 0) continue;
    if (request.skipUnder !== undefined && key.startsWith(request.skipUnder)) continue;

    const commonPrefix = commonPrefixOf(key, request.prefix, request.delimiter);
    if (commonPrefix !== undefined && commonPrefix === lastPrefix) continue;
    if (entries.length === request.maxKeys) return { entries, truncated: true };

    if (commonPrefix === undefined) {
      entries.push({ kind: 'object', record: bucket.objects.get(key)! });
    } else {
      entries.push({ kind: 'prefix', prefix: commonPrefix });
      lastPrefix = commonPrefix;
    }
  }
  return { entries, truncated: false };
}

function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (delimiter === '') return undefined;
  const index = key.indexOf(delimiter, prefix.length);
  return index === -1 ? undefined : key.slice(0, index + delimiter.length);
}

/** True when `marker` is a common prefix of this listing, so keys under it were already summarised. */
function isCommonPrefix(marker: string, prefix: string, delimiter: string): boolean {
  if (delimiter === '' || !marker.startsWith(prefix)) return false;
  return commonPrefixOf(marker, prefix, delimiter) === marker;
}

function entryName(entry: ListEntry): string {
  return entry.kind === 'object' ? entry.record.key : entry.prefix;
}

/**
 * Stand-in for the bucket owner's account ID in listings. ListObjects always lists the owner of each object, and
 * ListObjectsV2 does with `fetch-owner=true`. ali-oss's `list` fails on a listing without it.
 */
const OWNER_ID = '1000000000000000';

function entryNodes(entries: ListEntry[], encode: (text: string) => string, withOwner: boolean): XmlNode[] {
  return entries.map((entry): XmlNode => {
    if (entry.kind === 'prefix') return ['CommonPrefixes', [['Prefix', encode(entry.prefix)]]];
    const { record } = entry;
    const owner: XmlNode[] = withOwner ? [['Owner', [['ID', OWNER_ID], ['DisplayName', OWNER_ID]]]] : [];
    return [
      'Contents',
      [
        ['Key', encode(record.key)],
        ['LastModified', record.lastModified.toISOString()],
        ['ETag', quoted(record.etag)],
        ['Type', record.type],
        ['Size', record.size],
        ['StorageClass', 'Standard'],
        ...owner,
      ],
    ];
  });
}

/** Encodes the last entry of a page as a continuation token: base64url JSON, opaque and safe in a query string. */
function encodeToken(last: ListEntry): string {
  const position = last.kind === 'object' ? { after: last.record.key } : { after: last.prefix, skipUnder: last.prefix };
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

function decodeToken(token: string): { after: string | undefined; skipUnder: string | undefined } {
  try {
    const position = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown; skipUnder?: unknown };
    if (typeof position.after !== 'string') throw new TypeError('the token has no "after" key');
    return { after: position.after, skipUnder: typeof position.skipUnder === 'string' ? position.skipUnder : undefined };
  } catch {
    throw ossErrors.invalidArgument('The continuation token provided is incorrect.', { ContinuationToken: token });
  }
}

function maxKeysOf(target: RequestTarget): number {
  const value = queryValue(target, 'max-keys');
  if (value === undefined || value === '') return 100;
  const maxKeys = Number(value);
  if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 1000) {
    throw ossErrors.invalidArgument('max-keys must be an integer between 1 and 1000.', { ArgumentValue: value });
  }
  return maxKeys;
}

function encodingTypeOf(target: RequestTarget): boolean {
  const value = queryValue(target, 'encoding-type');
  if (value === undefined || value === '') return false;
  if (value !== 'url') throw ossErrors.invalidArgument('encoding-type must be url.', { ArgumentValue: value });
  return true;
}
