// The reference provider for bench/run.py: node-oidc-provider (pinned in package.json), in memory,
// one worker per core through Node's cluster module, one client equivalent to Caducée's bench client.
//
// The in-memory adapter is per process, so a token issued by one worker is unknown to the other.
// Each worker therefore listens on its OWN port (BASE_PORT + i, `exclusive: true`) with its own
// store, and the load generator sends each half of its connections to one port; every token a
// request presents was issued by the worker that receives it (see docs/benchmarks.md).
//
// Environment: BASE_PORT (default 3100), WORKERS (default: number of cores), MINT_DIR (each worker
// writes MINT_DIR/worker-<i>.json with tokens it minted through the provider's own models: refresh
// tokens for the rotation chain, an access token for UserInfo and introspection), MINT_REFRESH
// (refresh tokens per worker), ROTATE (1: rotate refresh tokens, as Caducée does; 0: do not).
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const BASE_PORT = +process.env.BASE_PORT || 3100;
const WORKERS = +process.env.WORKERS || availableParallelism();
const SUB = '899700000001';
const CLIENT_ID = 'bench-rp';
const CLIENT_SECRET = 'bench-secret-0123456789abcdefghijklmnop';
const SCOPE = 'openid offline_access profile';

if (cluster.isPrimary) {
  // Every worker must publish and sign with the SAME key.
  const jwk = {
    ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
    kid: 'k1',
    alg: 'ES256',
    use: 'sig',
  };
  let ready = 0;
  for (let i = 0; i < WORKERS; i++) {
    const worker = cluster.fork({ OP_JWK: JSON.stringify(jwk), WORKER_INDEX: String(i) });
    worker.on('message', (msg) => {
      if (msg === 'ready' && ++ready === WORKERS) console.log(`peer ready: ${WORKERS} workers`);
    });
  }
  cluster.on('exit', (worker, code, signal) => {
    console.error(`peer worker ${worker.process.pid} exited (${code ?? signal})`);
  });
  const stop = () => {
    for (const id in cluster.workers) cluster.workers[id].kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { Provider } = await import('oidc-provider');
  // The upstream in-memory adapter, unchanged, but over a store of 10 million entries instead of
  // its default 1,000 (an LRU: a few seconds of client_credentials would evict the setup tokens).
  const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
  const { default: LRU } = await import('oidc-provider/lib/helpers/lru.js');
  const store = new LRU({ maxSize: 10_000_000 });
  const index = +process.env.WORKER_INDEX;
  const port = BASE_PORT + index;
  const issuer = `http://127.0.0.1:${BASE_PORT}`; // one issuer for all workers, as behind a balancer
  const provider = new Provider(issuer, {
    adapter: (model) => new MemoryAdapter(model, store, 0),
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1:8080/cb'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
        scope: 'openid offline_access profile api:read',
      },
    ],
    jwks: { keys: [JSON.parse(process.env.OP_JWK)] },
    cookies: { keys: ['bench-only-cookie-key'] },
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, preferred_username: sub, given_name: 'Bench', family_name: 'Peer' }),
    }),
    claims: { openid: ['sub'], profile: ['preferred_username', 'given_name', 'family_name'] },
    scopes: ['openid', 'offline_access', 'profile', 'api:read'],
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
    },
    pkce: { required: () => true },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: process.env.ROTATE !== '0',
    ttl: {
      AccessToken: 3600,
      ClientCredentials: 120,
      RefreshToken: 3600,
      AuthorizationCode: 60,
      IdToken: 300,
      Interaction: 600,
      Session: 14400,
      Grant: 14400,
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));

  // Setup tokens, minted with the provider's own models into this worker's store (the same thing
  // a completed code flow would leave behind: a grant, its refresh token, an access token).
  const mintDir = process.env.MINT_DIR;
  if (mintDir) {
    const client = await provider.Client.find(CLIENT_ID);
    const authTime = Math.floor(Date.now() / 1000);
    const refresh = [];
    const grantFor = async () => {
      const grant = new provider.Grant({ clientId: CLIENT_ID, accountId: SUB });
      grant.addOIDCScope(SCOPE);
      return grant.save();
    };
    for (let n = 0; n < (+process.env.MINT_REFRESH || 0); n++) {
      const grantId = await grantFor();
      const token = new provider.RefreshToken({
        client,
        accountId: SUB,
        grantId,
        scope: SCOPE,
        gty: 'authorization_code',
        authTime,
        acr: 'eidas1',
        amr: ['pwd'],
      });
      refresh.push(await token.save());
    }
    const grantId = await grantFor();
    const access = new provider.AccessToken({
      client,
      accountId: SUB,
      grantId,
      scope: SCOPE,
      gty: 'authorization_code',
    });
    const accessToken = await access.save();
    writeFileSync(
      join(mintDir, `worker-${index}.json`),
      JSON.stringify({ port, access_token: accessToken, refresh_tokens: refresh }),
    );
  }
  provider.listen({ port, host: '127.0.0.1', exclusive: true }, () => process.send('ready'));
}
