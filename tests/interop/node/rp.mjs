// A relying party built on panva's openid-client, driven against a live Caducée by
// tests/interop/test_openid_client.py. It plays both the service (openid-client) and the person's
// browser (a cookie jar over fetch, submitting Caducée's test login form). It prints one JSON
// object describing what it observed; the Python test asserts on it.
import * as client from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing ${name}`);
  return value;
};
const issuer = new URL(env('ISSUER'));
const clientId = env('CLIENT_ID');
const secret = env('CLIENT_SECRET');
const redirectUri = env('REDIRECT_URI');
const postLogoutUri = env('POST_LOGOUT_REDIRECT_URI');
const idNat = env('ID_NAT');
const report = {};

const config = await client.discovery(issuer, clientId, secret, client.ClientSecretBasic(secret), {
  // Plain HTTP on loopback in tests; and verify ID token signatures against the JWKS, which
  // openid-client otherwise leaves to TLS.
  execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
});
report.issuer = config.serverMetadata().issuer;

// --- the browser ---------------------------------------------------------------------------------
const jar = new Map();
async function hop(url, init = {}) {
  const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers ?? {}), cookie } });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}
const formFields = (html) => {
  const fields = {};
  for (const match of html.matchAll(/<input\b[^>]*>/g)) {
    const tag = match[0];
    const name = /\bname="([^"]*)"/.exec(tag)?.[1];
    const value = /\bvalue="([^"]*)"/.exec(tag)?.[1] ?? '';
    if (name && !(name in fields)) fields[name] = value.replaceAll('&amp;', '&');
  }
  return fields;
};
async function followTo(url, prefix) {
  // Already there (a login answers the client at once): nothing to fetch.
  if (new URL(url).href.startsWith(prefix)) return { res: null, url: new URL(url) };
  let res = await hop(url);
  for (let i = 0; i < 10; i++) {
    const location = res.headers.get('location');
    if (!location) return { res, url };
    url = new URL(location, url);
    if (url.href.startsWith(prefix)) return { res, url };
    res = await hop(url);
  }
  throw new Error('too many redirects');
}

// --- code flow with PKCE -------------------------------------------------------------------------
const codeVerifier = client.randomPKCECodeVerifier();
const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid scope_all', code_challenge: codeChallenge,
  code_challenge_method: 'S256', state, nonce, acr_values: 'eidas1', login_hint: idNat,
});
let { res, url } = await followTo(authUrl, redirectUri);  // the login page, shown by authorize
const loginPage = url;
const html = await res.text();
// The test login form (its own fields only: the page has one form per method).
const testForm = /<form method="post" action="([^"]*)" class="method method-test">([\s\S]*?)<\/form>/.exec(html);
if (!testForm) throw new Error('no test login form on the login page');
const fields = formFields(testForm[2]);
fields[process.env.LOGIN_FIELD ?? 'id_nat'] = idNat;
res = await hop(new URL(testForm[1], loginPage), {
  method: 'POST', body: new URLSearchParams(fields),
  headers: { 'content-type': 'application/x-www-form-urlencoded', referer: loginPage.href, origin: loginPage.origin },
});
({ url } = await followTo(new URL(res.headers.get('location'), loginPage), redirectUri));
report.callback_has_iss = url.searchParams.get('iss') === issuer.href;

const tokens = await client.authorizationCodeGrant(config, url, {
  pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
report.token_fields = Object.keys(tokens).sort();
report.id_token_claims = claims;
report.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
report.refresh_rotated = refreshed.refresh_token !== tokens.refresh_token;
report.introspection = await client.tokenIntrospection(config, refreshed.access_token);
await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
report.revoked_refresh = await client.tokenIntrospection(config, refreshed.refresh_token, {
  token_type_hint: 'refresh_token',
});
try {
  await client.refreshTokenGrant(config, refreshed.refresh_token);
  report.refresh_after_revocation = 'accepted';
} catch (error) {
  report.refresh_after_revocation = error.error ?? String(error);
}

const logoutUrl = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogoutUri, state: 'bye',
});
({ url } = await followTo(logoutUrl, postLogoutUri));
report.logout_redirect = url.href;

process.stdout.write(JSON.stringify(report));
