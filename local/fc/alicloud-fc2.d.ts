// Types for the parts of @alicloud/fc2 2.6.6 that this repository calls. The package ships no types.

declare module '@alicloud/fc2' {
  type HeaderMap = Record<string, string | number | string[] | undefined>;

  interface FcClientConfig {
    accessKeyID: string;
    accessKeySecret: string;
    /** Required, and only sent, when `accessKeyID` starts with `STS`. */
    securityToken?: string;
    region: string;
    /** Full base URL such as `https://host:port`; replaces the endpoint derived from account and region. */
    endpoint?: string;
    /** Use https for the derived endpoint. */
    secure?: boolean;
    /** Use the `-internal` host for the derived endpoint. */
    internal?: boolean;
    /** Request timeout in milliseconds. Default 60000. */
    timeout?: number;
    headers?: HeaderMap;
  }

  interface FcResponse {
    headers: Record<string, string | string[] | undefined>;
    /** Parsed JSON when the response's content type is `application/json`, else the body as text. */
    data: unknown;
  }

  class FCClient {
    constructor(accountId: string, config: FcClientConfig);
    /** API version that prefixes every path, `2016-08-15` unless changed. */
    version: string;
    endpoint: string;
    post(
      path: string,
      body: Buffer | string | object | null,
      headers?: HeaderMap,
      queries?: Record<string, string | string[]> | null,
      opts?: { rawBuf?: boolean },
    ): Promise<FcResponse>;
    invokeFunction(
      serviceName: string,
      functionName: string,
      event: Buffer | string,
      headers?: HeaderMap,
      qualifier?: string,
      opts?: { rawBuf?: boolean },
    ): Promise<FcResponse>;
    static getSignature(
      accessKeyID: string,
      accessKeySecret: string,
      method: string,
      path: string,
      headers: HeaderMap,
      queries?: Record<string, string | string[]> | null,
    ): string;
  }

  export = FCClient;
}
