// A real OpenID Provider (panva/oidc-provider) for the browser tests, on loopback only.
//
//   node tests/oidc/provider.mjs   (environment: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
//                                   OIDC_REDIRECT_URI, OIDC_POST_LOGOUT_REDIRECT_URI;
//                                   OIDC_NO_EMAIL_VERIFIED=1: scope email carries `email`
//                                   alone, as ProConnect's does)
//
// Listens on 127.0.0.1, on a port the system picks, then prints one JSON line on stdout:
// {"issuer": "http://127.0.0.1:<port>"}. Its development login and consent pages (any
// password) let Chromium sign in as one of ACCOUNTS by typing its login. PKCE is required.
import http from 'node:http';

import Provider from 'oidc-provider';

// login (= subject) -> claims. Matches the demo accounts of tests/fixtures/api.py.
const ACCOUNTS = {
  'agent-sw': { email: 'Travailleur.Social@aveyron.example', email_verified: true },
  'agent-unknown': { email: 'inconnu@aveyron.example', email_verified: true },
  'agent-unverified': { email: 'mediateur@aveyron.example', email_verified: false },
};

// ProConnect's scope `email` yields the claim `email` and no `email_verified`.
const NO_EMAIL_VERIFIED = process.env.OIDC_NO_EMAIL_VERIFIED === '1';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: env('OIDC_CLIENT_ID'),
        client_secret: env('OIDC_CLIENT_SECRET'),
        redirect_uris: [env('OIDC_REDIRECT_URI')],
        post_logout_redirect_uris: [env('OIDC_POST_LOGOUT_REDIRECT_URI')],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: NO_EMAIL_VERIFIED ? ['email'] : ['email', 'email_verified'] },
    async findAccount(ctx, id) {
      const found = ACCOUNTS[id];
      if (!found) return undefined;
      const claims = NO_EMAIL_VERIFIED ? { email: found.email } : found;
      return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    cookies: { keys: ['passnum-test-provider-cookie-key'] },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
