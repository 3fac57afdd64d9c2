import { randomBytes } from 'node:crypto';

/** One AccessKey pair known to the local cloud, with an STS token when it was issued as temporary credentials. */
export interface AccessKeyRecord {
  accessKeyId: string;
  accessKeySecret: string;
  /** STS security token; present only for temporary credentials. */
  securityToken?: string;
  /** Epoch milliseconds after which the temporary credentials are rejected as expired. */
  expiresAtMs?: number;
}

/** Result of looking up the AccessKey ID and token a request presents. */
export type CredentialCheck =
  | { ok: true; record: AccessKeyRecord }
  | { ok: false; reason: 'unknown-access-key' | 'missing-token' | 'invalid-token' | 'expired-token' };

/**
 * The account shared by the local IMS, OSS and FC emulators, as RAM is for the real services.
 *
 * Every key and token is generated at run time from random bytes, so nothing that looks like a real
 * credential is ever stored in the repository.
 */
export class CredentialStore {
  readonly #records = new Map<string, AccessKeyRecord>();

  /** Creates a long-lived AccessKey pair, as a RAM user's. */
  createAccessKey(): AccessKeyRecord {
    const record = {
      accessKeyId: `LTAI${randomToken(10)}`,
      accessKeySecret: randomToken(30),
    };
    this.#records.set(record.accessKeyId, record);
    return { ...record };
  }

  /** Issues temporary credentials that expire after `ttlMs`, as STS AssumeRole does for an FC role. */
  issueStsCredentials(ttlMs = 3_600_000): Required<AccessKeyRecord> {
    const record = {
      accessKeyId: `STS.${randomToken(20)}`,
      accessKeySecret: randomToken(30),
      securityToken: `CAIS${randomToken(120)}`,
      expiresAtMs: Date.now() + ttlMs,
    };
    this.#records.set(record.accessKeyId, record);
    return { ...record };
  }

  /** Makes the temporary credentials of `accessKeyId` expire now; the emulators then reject them. */
  expire(accessKeyId: string): void {
    const record = this.#records.get(accessKeyId);
    if (record?.securityToken !== undefined) record.expiresAtMs = Date.now() - 1;
  }

  /** Makes every temporary credential expire now. */
  expireAllTemporary(): void {
    for (const record of this.#records.values()) {
      if (record.securityToken !== undefined) record.expiresAtMs = Date.now() - 1;
    }
  }

  /** Removes a key, as deleting it in RAM does. */
  revoke(accessKeyId: string): void {
    this.#records.delete(accessKeyId);
  }

  /**
   * Checks the AccessKey ID a request names and the security token it carries.
   * A request with temporary credentials must carry their token, and a long-lived key must carry none.
   */
  check(accessKeyId: string, securityToken: string | undefined, nowMs = Date.now()): CredentialCheck {
    const record = this.#records.get(accessKeyId);
    if (record === undefined) return { ok: false, reason: 'unknown-access-key' };
    if (record.securityToken === undefined) {
      return securityToken ? { ok: false, reason: 'invalid-token' } : { ok: true, record };
    }
    if (!securityToken) return { ok: false, reason: 'missing-token' };
    if (securityToken !== record.securityToken) return { ok: false, reason: 'invalid-token' };
    if (record.expiresAtMs !== undefined && nowMs >= record.expiresAtMs) return { ok: false, reason: 'expired-token' };
    return { ok: true, record };
  }

  /** Returns the secret of a known AccessKey ID, for signature checks. */
  secretOf(accessKeyId: string): string | undefined {
    return this.#records.get(accessKeyId)?.accessKeySecret;
  }
}

function randomToken(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let token = '';
  for (const byte of bytes) token += alphabet[byte % alphabet.length];
  return token;
}
