// A real OpenID Connect provider (the `oidc-provider` package) for the console's OIDC sign-in
// test. One public client (no secret, PKCE S256 required), the package's own login and
// consent pages (any login and password sign in as the login typed), and access tokens as
// JWTs (RFC 9068) for the resource `tasker-api`, signed with a fresh RSA key served at the
// provider's JWKS address, which the Tasker server under test is configured to trust.
//
// Environment: OIDC_ISSUER (http://127.0.0.1:PORT, the port it listens on), OIDC_CLIENT_ID,
// OIDC_REDIRECT_URI, OIDC_AUDIENCE (the access token's `aud`), OIDC_PERMISSIONS (comma
// separated, the `permissions` claim of every access token).
// It prints `ready` on stdout once it listens.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.js: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const issuer = need('OIDC_ISSUER');
const clientId = need('OIDC_CLIENT_ID');
const redirectUri = need('OIDC_REDIRECT_URI');
const audience = need('OIDC_AUDIENCE');
const permissions = (process.env.OIDC_PERMISSIONS ?? '*').split(',').filter(Boolean);
const port = Number(new URL(issuer).port);
// The resource indicator (an absolute URI) the access tokens are issued for.
const resource = 'urn:tasker:api';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    token_endpoint_auth_method: 'none',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'tasker',
        audience,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  scopes: ['openid', 'tasker'],
  findAccount: (_ctx, accountId) => ({
    accountId,
    claims: () => ({ sub: accountId }),
  }),
  extraTokenClaims: (_ctx, token) => (token.kind === 'AccessToken' ? { permissions } : undefined),
  ttl: { AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.listen(port, '127.0.0.1', () => {
  console.log('ready');
});
