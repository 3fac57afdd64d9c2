/** Credentials the emulator signs `ProjectUrl` with, as IMS signs with its service role. */
export interface UrlSigningCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/**
 * The part of an OSS emulator that the IMS emulator needs to hand out AdobePremierePro exports.
 * The IMS emulator takes this interface instead of importing the OSS emulator, so each can be tested alone.
 */
export interface ImsObjectStore {
  /**
   * Returns a presigned GET URL for the object. `expiresInSeconds` may be zero or negative, which must give
   * a URL that has already expired.
   */
  presignUrl(
    bucket: string,
    key: string,
    options: { expiresInSeconds: number; credentials: UrlSigningCredentials },
  ): string;
  /** Stores an object without an HTTP round trip, as IMS's own write of the export does. */
  putObjectDirect(bucket: string, key: string, body: Buffer, options?: { contentType?: string }): void | Promise<void>;
  /** Creates a bucket; called only when the emulator runs with `createOutputBuckets: true`. */
  createBucket(name: string): void | Promise<void>;
}
