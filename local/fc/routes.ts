/** The two invocation paths the emulator serves: FC 3.0's and the FC 2.0 one that `invokeFunction` builds. */

export const FcApiVersion = {
  V3: '2023-03-30',
  V2: '2016-08-15',
} as const;
export type FcApiVersion = (typeof FcApiVersion)[keyof typeof FcApiVersion];

export interface InvocationRoute {
  apiVersion: FcApiVersion;
  functionName: string;
  /** FC 2.0 only: the service segment before any `.qualifier`. */
  serviceName?: string;
  /** From `<service>.<qualifier>` (FC 2.0) or the `qualifier` query parameter (FC 3.0). */
  qualifier?: string;
}

const V3_INVOCATION = /^\/2023-03-30\/functions\/([^/]+)\/invocations$/;
const V2_INVOCATION = /^\/2016-08-15\/services\/([^/]+)\/functions\/([^/]+)\/invocations$/;

/** Matches `pathname` (still percent-encoded) to an invocation route; returns undefined for any other path. */
export function matchInvocationRoute(pathname: string, query: URLSearchParams): InvocationRoute | undefined {
  try {
    return matchDecoded(pathname, query);
  } catch (error) {
    if (error instanceof URIError) return undefined;
    throw error;
  }
}

function matchDecoded(pathname: string, query: URLSearchParams): InvocationRoute | undefined {
  const v3 = V3_INVOCATION.exec(pathname);
  if (v3 !== null) {
    const route: InvocationRoute = { apiVersion: FcApiVersion.V3, functionName: decodeURIComponent(v3[1]!) };
    const qualifier = query.get('qualifier');
    if (qualifier) route.qualifier = qualifier;
    return route;
  }

  const v2 = V2_INVOCATION.exec(pathname);
  if (v2 !== null) {
    const [serviceName, qualifier] = splitServiceSegment(decodeURIComponent(v2[1]!));
    const route: InvocationRoute = { apiVersion: FcApiVersion.V2, functionName: decodeURIComponent(v2[2]!), serviceName };
    if (qualifier) route.qualifier = qualifier;
    return route;
  }

  return undefined;
}

function splitServiceSegment(segment: string): [string, string | undefined] {
  const dot = segment.indexOf('.');
  return dot === -1 ? [segment, undefined] : [segment.slice(0, dot), segment.slice(dot + 1)];
}
