// A real OpenID provider for the sign-in test: oidc-provider (OpenID-certified), on a loopback
// port, with one public client — the admin page (Authorization Code with PKCE, no secret) — and
// its development login pages. Whoever signs in as `ada` is Ada (`sub` ada), a reader; `eve` is signed in
// but not a reader. Access tokens are JWTs (RS256) for the audit log's audience, carrying the
// role claim; they live 120 s so the page renews them during the test.
//
//   PROVIDER_PORT=… AUDIT_UI_URL=http://127.0.0.1:…/ AUDIT_AUDIENCE=… node provider.mjs
//
// Prints `provider: ready <issuer>` once it listens. Stopped by its parent (SIGTERM).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PROVIDER_PORT || 0);
const page = process.env.AUDIT_UI_URL;
const audience = process.env.AUDIT_AUDIENCE || 'urn:audit-log';
if (!page) throw new Error('AUDIT_UI_URL is not set');
const issuer = `http://127.0.0.1:${port}`;

const people = {
  ada: { email: 'ada@example.test', preferred_username: 'ada', name: 'Ada Lovelace', groups: ['audit-readers'] },
  eve: { email: 'eve@example.test', preferred_username: 'eve', name: 'Eve', groups: ['staff'] },
};

const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'audit-ui',
      token_endpoint_auth_method: 'none',
      redirect_uris: [page],
      post_logout_redirect_uris: [page],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
  ],
  jwks: { keys: [{ ...key, kid: 'rsa-1', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
  // The login is the account (the `sub`); the development login page takes any password.
  async findAccount(ctx, id) {
    const person = people[id];
    if (!person) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...person }) };
  },
  // The audit log's access tokens: JWTs for its audience, whatever resource the page names.
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: '',
        audience,
        accessTokenTTL: 120,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  async extraTokenClaims(ctx, token) {
    const person = people[token.accountId];
    return person ? { email: person.email, preferred_username: person.preferred_username, groups: person.groups } : {};
  },
  // A refresh token for the public client (offline_access is not needed for the page to renew).
  issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token'),
  clientBasedCORS: (ctx, origin) => origin === new URL(page).origin,
  ttl: { AccessToken: 120, IdToken: 3600, RefreshToken: 3600, Session: 3600, Interaction: 600, Grant: 3600, AuthorizationCode: 60 },
  // Consent is not asked for: the page is the organisation's own application.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email offline_access');
    grant.addOIDCClaims(['email', 'preferred_username', 'name']);
    grant.addResourceScope(audience, '');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
for (const event of ['server_error', 'grant.error', 'authorization.error']) {
  provider.on(event, (ctx, error) => console.error(`provider: ${event}: ${error.stack || error}`));
}
const server = provider.listen(port, '127.0.0.1', () => console.log(`provider: ready ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
