import type { IncomingHttpHeaders } from 'node:http';
import type { OperationHandler } from './handlers/context';
import { listObjects, listObjectsV2 } from './handlers/list';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  initiateMultipartUpload,
  listMultipartUploads,
  listParts,
  uploadPart,
  uploadPartCopy,
} from './handlers/multipart';
import {
  copyObject,
  deleteMultipleObjects,
  deleteObject,
  getObject,
  getObjectMeta,
  headObject,
  putObject,
} from './handlers/objects';
import { headerText, V1_SUBRESOURCES } from './sign-v1';
import { hasQuery, type RequestTarget } from './target';

/** Handlers by OSS API operation name. Names are also what fault rules and the request log match on. */
export const HANDLERS: Readonly<Record<string, OperationHandler>> = {
  PutObject: putObject,
  GetObject: getObject,
  HeadObject: headObject,
  GetObjectMeta: getObjectMeta,
  DeleteObject: deleteObject,
  DeleteMultipleObjects: deleteMultipleObjects,
  CopyObject: copyObject,
  ListObjects: listObjects,
  ListObjectsV2: listObjectsV2,
  InitiateMultipartUpload: initiateMultipartUpload,
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipartUpload,
  AbortMultipartUpload: abortMultipartUpload,
  ListParts: listParts,
  ListMultipartUploads: listMultipartUploads,
};

/** Operations whose request carries a body. A drop fault on them cuts the request body by default. */
export const UPLOAD_OPERATIONS: ReadonlySet<string> = new Set([
  'PutObject',
  'UploadPart',
  'CompleteMultipartUpload',
  'DeleteMultipleObjects',
]);

/**
 * Names the OSS API operation of a request from its method, target and headers. Requests the emulator does not
 * implement get a descriptive name such as `GET bucket?acl`, which has no handler.
 */
export function operationOf(method: string, target: RequestTarget, headers: IncomingHttpHeaders): string {
  if (target.bucket === undefined) return method === 'GET' ? 'ListBuckets' : `${method} service`;
  return target.keyBytes.length === 0 ? bucketOperation(method, target) : objectOperation(method, target, headers);
}

function bucketOperation(method: string, target: RequestTarget): string {
  if (method === 'GET' && hasQuery(target, 'uploads')) return 'ListMultipartUploads';
  if (method === 'POST' && hasQuery(target, 'delete')) return 'DeleteMultipleObjects';

  const subresource = firstSubresource(target);
  if (subresource !== undefined) return `${method} bucket?${subresource}`;
  if (method === 'GET') return target.query.some((param) => param.name === 'list-type' && param.value === '2') ? 'ListObjectsV2' : 'ListObjects';
  return `${method} bucket`;
}

function objectOperation(method: string, target: RequestTarget, headers: IncomingHttpHeaders): string {
  const isCopy = headerText(headers, 'x-oss-copy-source') !== '';
  const isPart = hasQuery(target, 'uploadId') && hasQuery(target, 'partNumber');

  switch (method) {
    case 'PUT':
      if (isPart) return isCopy ? 'UploadPartCopy' : 'UploadPart';
      if (firstSubresource(target) !== undefined) return `PUT object?${firstSubresource(target)}`;
      return isCopy ? 'CopyObject' : 'PutObject';
    case 'GET':
      if (hasQuery(target, 'uploadId')) return 'ListParts';
      if (hasQuery(target, 'objectMeta')) return 'GetObjectMeta';
      return firstSubresource(target) === undefined ? 'GetObject' : `GET object?${firstSubresource(target)}`;
    case 'HEAD':
      return hasQuery(target, 'objectMeta') ? 'GetObjectMeta' : 'HeadObject';
    case 'POST':
      if (hasQuery(target, 'uploads')) return 'InitiateMultipartUpload';
      if (hasQuery(target, 'uploadId')) return 'CompleteMultipartUpload';
      return `POST object?${firstSubresource(target) ?? ''}`;
    case 'DELETE':
      return hasQuery(target, 'uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return `${method} object`;
  }
}

/** Returns the first query parameter that names a sub-resource other than those every request may carry. */
function firstSubresource(target: RequestTarget): string | undefined {
  return target.query.find((param) => V1_SUBRESOURCES.has(param.name) && !IGNORED_SUBRESOURCES.has(param.name))?.name;
}

/** Sub-resources that do not change which operation a request is. */
const IGNORED_SUBRESOURCES = new Set([
  'security-token',
  'continuation-token',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
]);
