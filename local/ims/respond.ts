import type { ServerResponse } from 'node:http';
import type { Fault } from '../common/faults';
import { defaultErrorForStatus, popErrorBody, PopErrorCode, THROTTLING_MESSAGE } from './pop-errors';

/** A complete HTTP response, before any response fault changes how it is sent. */
export interface PreparedResponse {
  status: number;
  contentType: string;
  body: Buffer;
  /** Sent as `x-acs-request-id`; undefined for responses that do not come from the service, such as a gateway page. */
  requestId: string | undefined;
  /** The POP error code, for the request log. */
  code?: string;
}

const JSON_CONTENT_TYPE = 'application/json;charset=utf-8';

export function jsonResponse(bodyText: string, requestId: string): PreparedResponse {
  return { status: 200, contentType: JSON_CONTENT_TYPE, body: Buffer.from(bodyText), requestId };
}

export function popErrorResponse(
  error: { status: number; code: string; message: string },
  requestId: string,
  hostId: string,
): PreparedResponse {
  const body = JSON.stringify(popErrorBody(error, requestId, hostId));
  return { status: error.status, contentType: JSON_CONTENT_TYPE, body: Buffer.from(body), requestId, code: error.code };
}

/** Builds an HTML error page of the kind a load balancer in front of the API sends on 502 or 504. */
export function gatewayPageResponse(status: number): PreparedResponse {
  const title = `${status} ${status === 504 ? 'Gateway Time-out' : 'Bad Gateway'}`;
  const body = `<html>\n<head><title>${title}</title></head>\n<body>\n<center><h1>${title}</h1></center>\n<hr><center>Tengine</center>\n</body>\n</html>\n`;
  return { status, contentType: 'text/html', body: Buffer.from(body), requestId: undefined };
}

/** Returns the response an `error` or `throttle` fault puts in place of the normal one, or undefined for other faults. */
export function injectedResponse(fault: Fault | undefined, requestId: string, hostId: string): PreparedResponse | undefined {
  if (fault?.kind === 'throttle') {
    return popErrorResponse({ status: 400, code: PopErrorCode.ThrottlingUser, message: THROTTLING_MESSAGE }, requestId, hostId);
  }
  if (fault?.kind !== 'error') return undefined;
  if (fault.html === true) return gatewayPageResponse(fault.status);

  const fallback = defaultErrorForStatus(fault.status);
  const error = { status: fault.status, code: fault.code ?? fallback.code, message: fault.message ?? fallback.message };
  return popErrorResponse(error, requestId, hostId);
}

/**
 * Sends the response and applies a response fault. `drop` at the response-body stage sends `afterBytes`
 * bytes and then destroys the connection. `truncate` sends `afterBytes` bytes as a complete response.
 * `corrupt` flips the lowest bit of the last byte, so that a JSON body no longer parses.
 * Returns the status sent, or 0 when the connection was destroyed.
 */
export async function sendResponse(response: ServerResponse, prepared: PreparedResponse, fault: Fault | undefined): Promise<number> {
  let body = prepared.body;
  if (fault?.kind === 'truncate') body = body.subarray(0, fault.afterBytes);
  if (fault?.kind === 'corrupt' && body.length > 0) {
    body = Buffer.from(body);
    body[body.length - 1] = body[body.length - 1]! ^ 0x01;
  }

  response.statusCode = prepared.status;
  response.setHeader('content-type', prepared.contentType);
  response.setHeader('content-length', body.length);
  if (prepared.requestId !== undefined) response.setHeader('x-acs-request-id', prepared.requestId);

  if (fault?.kind === 'drop' && fault.stage === 'response-body') {
    await writeChunk(response, body.subarray(0, fault.afterBytes));
    response.destroy();
    return 0;
  }
  response.end(body);
  return prepared.status;
}

function writeChunk(response: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    // flushHeaders makes the status line and headers go out even when the chunk is empty.
    response.flushHeaders();
    if (chunk.length === 0) resolve();
    else response.write(chunk, () => resolve());
  });
}
