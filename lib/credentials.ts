/** AccessKey credentials, temporary (with a security token) or long-lived. */
export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** The credential fields of an FC context; FC passes `{}` when the function has no role. */
export interface ContextCredentials {
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
}

/**
 * Picks the credentials for this invocation: the function role's from the FC context when present, else the
 * `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and `ALIBABA_CLOUD_SECURITY_TOKEN` variables.
 *
 * @throws {Error} when neither source has an AccessKey pair.
 */
export function resolveCredentials(
  fromContext: ContextCredentials | undefined,
  env: Record<string, string | undefined> = process.env,
): Credentials {
  if (fromContext?.accessKeyId && fromContext.accessKeySecret) {
    return withOptionalToken(fromContext.accessKeyId, fromContext.accessKeySecret, fromContext.securityToken);
  }

  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (accessKeyId && accessKeySecret) {
    return withOptionalToken(accessKeyId, accessKeySecret, env.ALIBABA_CLOUD_SECURITY_TOKEN);
  }

  throw new Error(
    'No credentials: give the function a RAM role (FC passes its STS credentials in the context), or set ' +
      'ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)',
  );
}

function withOptionalToken(accessKeyId: string, accessKeySecret: string, securityToken: string | undefined): Credentials {
  return securityToken ? { accessKeyId, accessKeySecret, securityToken } : { accessKeyId, accessKeySecret };
}
