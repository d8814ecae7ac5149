// jose is loaded on first use: `owui-sync token` and the agent need it, every other start of the CLI does not.
const jose = () => import('jose');

/** Tokens are HS256, short-lived, for this audience from this issuer; all three are checked. */
export const ISSUER = 'owui-sync';
export const AUDIENCE = 'owui-sync-api';
/** The longest a token may live: scripts mint a new one per run. */
export const MAX_TTL_SECONDS = 24 * 3600;

export async function mintToken(secret: Uint8Array, o: { ttlSeconds: number; subject: string }): Promise<string> {
  const { SignJWT } = await jose();
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(o.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + o.ttlSeconds)
    .sign(secret);
}

export type AuthResult = { ok: true; subject: string } | { ok: false; reason: string };

/** Check an Authorization header. The reason is safe to return to the caller: it never echoes the token. */
export async function checkBearer(secret: Uint8Array, header: string | undefined): Promise<AuthResult> {
  const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header ?? '');
  if (!m)
    return {
      ok: false,
      reason: 'missing bearer token: send Authorization: Bearer <token> (owui-sync token prints one)',
    };
  const { jwtVerify, errors } = await jose();
  try {
    const { payload } = await jwtVerify(m[1]!, secret, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'iat'],
      maxTokenAge: MAX_TTL_SECONDS,
    });
    return { ok: true, subject: typeof payload.sub === 'string' ? payload.sub : 'api' };
  } catch (err) {
    if (err instanceof errors.JWTExpired)
      return { ok: false, reason: 'token expired: mint a new one (owui-sync token)' };
    if (err instanceof errors.JWSSignatureVerificationFailed)
      return { ok: false, reason: 'token signature is not valid for this cluster' };
    if (err instanceof errors.JWTClaimValidationFailed)
      return { ok: false, reason: `token claim "${err.claim}" is not valid: ${err.reason}` };
    return { ok: false, reason: 'token is not a valid JWT for this API' };
  }
}
