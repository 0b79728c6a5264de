import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/http.js';
import { REDIS_URL } from '../support/services.js';
import { nextOrNotified } from '../support/revocation-sync-mode.js';
import {
  SAMPLE_ENGINES,
  createSampleDatabase,
  lastLine,
  runCli,
  startSampleApp,
  type RunningSampleApp,
  type SampleDatabase,
  type SampleEngine,
} from '../support/sample-app.js';

/** The request of the `curl -H "<name>: <value>" <url>` line the app prints on a first start. */
function printedCurl(stdout: string): { url: string; header: string; value: string; line: string } {
  const match = /^\s*(curl -H "([^":]+): ([^"]+)" (\S+))\s*$/m.exec(stdout);
  expect(match, `a curl line in:\n${stdout}`).not.toBeNull();
  const [, line, header, value, url] = match!;
  return { line, header, value, url };
}

const apiKey = (key: string) => ({ authorization: `Api-Key ${key}` });
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** The statuses of `count` calls of `GET /limited` with `key`, one after the other. */
async function limitedStatuses(baseUrl: string, key: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++)
    statuses.push((await call(`${baseUrl}/limited`, { headers: apiKey(key) })).status);
  return statuses;
}

/** The OpenAPI document the app serves at /docs-json. */
async function openApiDocument(baseUrl: string): Promise<any> {
  const response = await call(`${baseUrl}/docs-json`);
  expect(response.status).toBe(200);
  return response.body;
}
/** SQL listing the trigger called `name` on `engine`: one row if it exists. */
function triggerNamed(engine: SampleEngine, name: string): string {
  if (engine === 'postgres')
    return `SELECT tgname AS name FROM pg_trigger WHERE tgname = '${name}'`;
  if (engine === 'mariadb')
    return `SELECT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND trigger_name = '${name}'`;
  return `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = '${name}'`;
}
/** The lookup prefix of a sample key, `v1_<prefix>_<secret><checksum>` (the sample makes checksummed keys). */
const prefixOf = (key: string) => key.slice(3, 11);

// Every test starts child processes (about a second each, more on a busy machine): bound them generously.
describe.each(SAMPLE_ENGINES)('sample app on %s', { timeout: 120_000 }, (engine) => {
  let db: SampleDatabase;
  /** The first start (`npm start` on the empty database), stopped once looked at. */
  let first: RunningSampleApp;
  let curl: ReturnType<typeof printedCurl>;
  /** The answer to the printed curl request, sent while the first start was running. */
  let curlResponse: Awaited<ReturnType<typeof call>>;
  let rowsAfterFirstStart: Record<string, unknown>[];
  /** The second start on the same database, which the route tests call. */
  let app: RunningSampleApp | undefined;
  let rowsAfterSecondStart: Record<string, unknown>[];
  /** The demo key printed by the first start. */
  let demoKey: string;
  /** A key holding projects:read only, made with the CLI. */
  let readerKey: { id: string; prefix: string; key: string };

  beforeAll(async () => {
    db = await createSampleDatabase(engine);
    first = await startSampleApp({ DATABASE_URL: db.url }, { viaNpm: true });
    try {
      curl = printedCurl(first.stdout());
      demoKey = curl.value.replace(/^Api-Key /, '');
      curlResponse = await call(curl.url, { headers: { [curl.header]: curl.value } });
      rowsAfterFirstStart = await db.rows('api_keys', [
        'id',
        'prefix',
        'name',
        'scopes',
        'hashed_key',
      ]);
    } finally {
      await first.stop();
    }
    app = await startSampleApp({ DATABASE_URL: db.url });
    rowsAfterSecondStart = await db.rows('api_keys', ['id']);
    const made = await runCli(
      ['create', '--name', 'reader', '--scopes', 'projects:read', '--json'],
      { DATABASE_URL: db.url },
    );
    expect(made.code, made.stderr).toBe(0);
    readerKey = JSON.parse(lastLine(made.stdout));
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('npm start on an empty database creates a demo key, prints it once with a curl line that gets 200', () => {
    expect(curl.url).toBe(`${first.url}/projects`);
    expect(curl.header).toBe('Authorization');
    expect(curl.value).toMatch(/^Api-Key v1_[A-Za-z0-9]{8}_[A-Za-z0-9]{38}$/);
    // Shown once: on its own line and in the curl line, nowhere else, and never on stderr.
    expect(
      first
        .stdout()
        .split('\n')
        .filter((line) => line.includes(demoKey))
        .map((line) => line.trim()),
    ).toEqual([demoKey, curl.line]);
    expect(first.stderr()).not.toContain(demoKey);
    expect(first.stdout()).toContain('npm run keys -- create --name');

    expect(curlResponse.status).toBe(200);
    expect(curlResponse.body.apiKey).toEqual({
      id: expect.any(String),
      name: 'demo',
      prefix: prefixOf(demoKey),
    });
    expect(curlResponse.body.projects.length).toBeGreaterThan(0);

    expect(rowsAfterFirstStart).toHaveLength(1);
    const [row] = rowsAfterFirstStart;
    expect(row).toMatchObject({
      id: curlResponse.body.apiKey.id,
      prefix: prefixOf(demoKey),
      name: 'demo',
    });
    expect(JSON.parse(row.scopes as string)).toEqual(['projects:read', 'projects:write']);
    expect(row.hashed_key).not.toContain(demoKey.slice(12, 44));
  });

  it('a second start on the same database creates no key and prints none', async () => {
    expect(app!.stdout()).not.toMatch(/curl|demo API key/);
    expect(rowsAfterSecondStart).toEqual([{ id: curlResponse.body.apiKey.id }]);
    expect((await call(`${app!.url}/projects`, { headers: apiKey(demoKey) })).status).toBe(200);
  });

  it('serves /health to anyone', async () => {
    const response = await call(`${app!.url}/health`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('GET /projects answers the calling key and refuses requests without a valid one', async () => {
    const ok = await call(`${app!.url}/projects`, { headers: apiKey(readerKey.key) });
    expect(ok.status).toBe(200);
    expect(ok.body.apiKey).toEqual({ id: readerKey.id, name: 'reader', prefix: readerKey.prefix });

    for (const headers of [
      {},
      { authorization: 'Api-Key nonsense' },
      apiKey(`${readerKey.prefix}.${'x'.repeat(32)}`),
      { authorization: `Bearer ${readerKey.key}` },
    ] as Record<string, string>[]) {
      const refused = await call(`${app!.url}/projects`, { headers });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Api-Key realm="api"');
    }
  });

  it('POST /projects: 201 with projects:write, 403 for a valid key without it, 401 without a valid key', async () => {
    const created = await call(`${app!.url}/projects`, {
      method: 'POST',
      headers: apiKey(demoKey),
      body: { name: 'Mercury' },
    });
    expect(created.status).toBe(201);
    expect(created.body.project.name).toBe('Mercury');
    expect(created.body.createdBy.prefix).toBe(prefixOf(demoKey));

    const forbidden = await call(`${app!.url}/projects`, {
      method: 'POST',
      headers: apiKey(readerKey.key),
      body: { name: 'Mercury' },
    });
    expect(forbidden.status).toBe(403);

    const anonymous = await call(`${app!.url}/projects`, {
      method: 'POST',
      body: { name: 'Mercury' },
    });
    expect(anonymous.status).toBe(401);
  });

  it('GET /reports lets in a valid key or the user token, and nothing else', async () => {
    const byKey = await call(`${app!.url}/reports`, { headers: apiKey(readerKey.key) });
    expect(byKey.status).toBe(200);
    expect(byKey.body.via).toBe('api-key');

    const byUser = await call(`${app!.url}/reports`, {
      headers: { authorization: 'Bearer demo-user-token' },
    });
    expect(byUser.status).toBe(200);
    expect(byUser.body).toMatchObject({ via: 'user-token', user: 'demo-user' });

    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token' },
      { authorization: 'Api-Key nonsense' },
    ] as Record<string, string>[]) {
      expect((await call(`${app!.url}/reports`, { headers })).status).toBe(401);
    }
  });

  it('the partner route accepts a partner key, refuses a default key, and refuses keys of an inactive partner', async () => {
    expect(
      (await call(`${app!.url}/partners`, { method: 'POST', body: { name: 'Acme' } })).status,
    ).toBe(401);
    const onboarded = await call(`${app!.url}/partners`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo-user-token' },
      body: { name: 'Acme' },
    });
    expect(onboarded.status).toBe(201);
    const partnerKey: string = onboarded.body.key;

    const orders = await call(`${app!.url}/partner/orders`, { headers: apiKey(partnerKey) });
    expect(orders.status).toBe(200);
    expect(orders.body.partner).toEqual({ id: onboarded.body.partner.id, name: 'Acme' });
    expect(orders.body.apiKey.prefix).toBe(prefixOf(partnerKey));

    expect((await call(`${app!.url}/partner/orders`, { headers: apiKey(demoKey) })).status).toBe(
      401,
    );
    expect((await call(`${app!.url}/projects`, { headers: apiKey(partnerKey) })).status).toBe(401);
    expect(await db.rows('partner_api_keys', ['id'])).toHaveLength(1);

    const deactivated = await call(`${app!.url}/partners/${onboarded.body.partner.id}/deactivate`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo-user-token' },
    });
    expect(deactivated.status).toBe(200);
    // In notify mode the partners table's trigger tells the key cache, by notification or poll.
    const status = async () =>
      (await call(`${app!.url}/partner/orders`, { headers: apiKey(partnerKey) })).status;
    expect(await nextOrNotified(status, 401)).toBe(401);
  });

  it('POST /partners with a name too long for its key answers 400 and writes nothing', async () => {
    const partnersBefore = (await db.rows('partners', ['id'])).length;
    const keysBefore = (await db.rows('partner_api_keys', ['id'])).length;
    const refused = await call(`${app!.url}/partners`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo-user-token' },
      body: { name: 'a'.repeat(95) },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain('1 to 93 characters');
    expect(await db.rows('partners', ['id'])).toHaveLength(partnersBefore);
    expect(await db.rows('partner_api_keys', ['id'])).toHaveLength(keysBefore);
  });

  it('serves Swagger UI at /docs and a document read from the guards at /docs-json', async () => {
    const ui = await call(`${app!.url}/docs`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    expect(String(ui.body)).toContain('swagger-ui');

    const document = await openApiDocument(app!.url);
    expect(document.components.securitySchemes['api-key']).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      'x-api-key-keyword': 'Api-Key',
    });
    const { paths } = document;
    expect(paths['/health'].get.security).toBeUndefined();
    expect(paths['/projects'].get.security).toEqual([{ 'api-key': [] }]);
    expect(paths['/projects'].post.security).toEqual([{ 'api-key': [] }]);
    expect(paths['/projects'].post['x-api-key-scopes']).toEqual(['projects:write']);
    expect(paths['/projects'].post.responses['403'].description).toContain('projects:write');
    expect(paths['/projects'].get['x-api-key-scopes']).toBeUndefined();
    expect(paths['/reports'].get.security).toEqual([{ 'api-key': [] }, { bearer: [] }]);
    expect(paths['/limited'].get.security).toEqual([{ 'api-key': [] }]);
  });

  it('GET /limited takes a valid key, 5 requests a minute each, then 429 with Retry-After', async () => {
    expect((await call(`${app!.url}/limited`)).status).toBe(401);
    const ok = await call(`${app!.url}/limited`, { headers: apiKey(demoKey) });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      apiKey: { id: curlResponse.body.apiKey.id, prefix: prefixOf(demoKey) },
      limited: true,
    });
    expect(await limitedStatuses(app!.url, demoKey, 5)).toEqual([200, 200, 200, 200, 429]);
    const refused = await call(`${app!.url}/limited`, { headers: apiKey(demoKey) });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key has a budget of its own, wherever the first stands.
    expect(await limitedStatuses(app!.url, readerKey.key, 6)).toEqual([
      200, 200, 200, 200, 200, 429,
    ]);
  });

  it('GET /admin/keys asks for the admin with a Basic challenge, and serves the page to admin:demo-admin-password', async () => {
    for (const headers of [{}, basic('admin', 'wrong'), basic('root', 'demo-admin-password')]) {
      const refused = await call(`${app!.url}/admin/keys`, { headers });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Basic /);
    }
    const page = await call(`${app!.url}/admin/keys`, {
      headers: basic('admin', 'demo-admin-password'),
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(String(page.body)).toContain('<title>API keys</title>');
  });

  describe('with REDIS_URL set', () => {
    let instances: RunningSampleApp[] = [];

    beforeAll(async () => {
      const env = {
        DATABASE_URL: db.url,
        REDIS_URL,
        // Counters of this run alone: none left by another run or engine counts here.
        REDIS_KEY_PREFIX: `sample-app-test:${randomUUID()}:`,
      };
      instances = await Promise.all([startSampleApp(env), startSampleApp(env)]);
    }, 120_000);
    afterAll(async () => {
      await Promise.all(instances.map((instance) => instance.stop()));
    });

    it("two instances share one key's budget", async () => {
      const [one, two] = instances.map((instance) => instance.url);
      const made = await runCli(['create', '--name', 'shared', '--json'], { DATABASE_URL: db.url });
      expect(made.code, made.stderr).toBe(0);
      const { key } = JSON.parse(lastLine(made.stdout));
      expect(await limitedStatuses(one, key, 3)).toEqual([200, 200, 200]);
      expect(await limitedStatuses(two, key, 2)).toEqual([200, 200]);
      expect(await limitedStatuses(one, key, 1)).toEqual([429]);
      const refused = await call(`${two}/limited`, { headers: apiKey(key) });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    });
  });

  describe('with API_KEY_REVOCATION_SYNC=notify', () => {
    let instances: RunningSampleApp[] = [];

    beforeAll(async () => {
      const env = { DATABASE_URL: db.url, API_KEY_REVOCATION_SYNC: 'notify' };
      instances = await Promise.all([startSampleApp(env), startSampleApp(env)]);
    }, 120_000);
    afterAll(async () => {
      await Promise.all(instances.map((instance) => instance.stop()));
    });

    it('installs the change trigger at boot, and a revocation made by the CLI reaches both instances', async () => {
      // The notify mode's trigger exists only when the app booted in that mode.
      const triggers = (await db.execute(
        triggerNamed(engine, 'api_keys_notify_change'),
      )) as unknown[];
      expect(triggers).toHaveLength(1);
      const made = await runCli(['create', '--name', 'synced', '--json'], { DATABASE_URL: db.url });
      expect(made.code, made.stderr).toBe(0);
      const { key, prefix } = JSON.parse(lastLine(made.stdout));
      for (const { url } of instances)
        expect((await call(`${url}/projects`, { headers: apiKey(key) })).status).toBe(200);
      const revoked = await runCli(['revoke', prefix], { DATABASE_URL: db.url });
      expect(revoked.code, revoked.stderr).toBe(0);
      for (const { url } of instances) {
        // The change arrives by notification or the next poll: well within 5 s.
        let status = 0;
        for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
          status = (await call(`${url}/projects`, { headers: apiKey(key) })).status;
          if (status === 401) break;
        }
        expect(status).toBe(401);
      }
    });

    it('caches partner keys too, and a partner deactivated through one instance is refused by the other', async () => {
      const triggers = (await db.execute(
        triggerNamed(engine, 'partner_api_keys_notify_owner_partners'),
      )) as unknown[];
      expect(triggers).toHaveLength(1);
      const [one, two] = instances.map((instance) => instance.url);
      const user = { authorization: 'Bearer demo-user-token' };
      const onboarded = await call(`${one}/partners`, {
        method: 'POST',
        headers: user,
        body: { name: 'Synced' },
      });
      expect(onboarded.status).toBe(201);
      const partnerKey: string = onboarded.body.key;
      for (const url of [one, two])
        expect((await call(`${url}/partner/orders`, { headers: apiKey(partnerKey) })).status).toBe(
          200,
        );
      const deactivated = await call(`${one}/partners/${onboarded.body.partner.id}/deactivate`, {
        method: 'POST',
        headers: user,
      });
      expect(deactivated.status).toBe(200);
      // The change arrives by notification or the next poll: well within 5 s.
      let status = 0;
      for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
        status = (await call(`${two}/partner/orders`, { headers: apiKey(partnerKey) })).status;
        if (status === 401) break;
      }
      expect(status).toBe(401);
    });
  });

  describe('with API_KEY_HEADER, SAMPLE_USER_TOKEN and SAMPLE_ADMIN_PASSWORD set', () => {
    let headerDb: SampleDatabase;
    let headerApp: RunningSampleApp | undefined;

    beforeAll(async () => {
      headerDb = await createSampleDatabase(engine);
      headerApp = await startSampleApp({
        DATABASE_URL: headerDb.url,
        API_KEY_HEADER: 'X-Api-Key',
        SAMPLE_USER_TOKEN: 'other-user-token',
        SAMPLE_ADMIN_PASSWORD: 'other-admin-password',
      });
    }, 120_000);
    afterAll(async () => {
      await headerApp?.stop();
      await headerDb?.drop();
    });

    it('prints a curl line sending the key in that header, reads keys only from it, and takes the configured user token', async () => {
      const curl = printedCurl(headerApp!.stdout());
      expect(curl.header).toBe('X-Api-Key');
      const key = curl.value;
      expect(key).toMatch(/^v1_[A-Za-z0-9]{8}_[A-Za-z0-9]{38}$/);

      const ok = await call(curl.url, { headers: { [curl.header]: curl.value } });
      expect(ok.status).toBe(200);
      expect(ok.body.apiKey.prefix).toBe(prefixOf(key));

      // Authorization is ignored entirely, even carrying a valid key.
      const viaAuthorization = await call(`${headerApp!.url}/projects`, { headers: apiKey(key) });
      expect(viaAuthorization.status).toBe(401);
      expect(viaAuthorization.headers.get('www-authenticate')).toContain('header="x-api-key"');
      expect(
        (
          await call(`${headerApp!.url}/projects`, {
            headers: { 'x-api-key': key, authorization: 'Api-Key nonsense' },
          })
        ).status,
      ).toBe(200);

      expect(
        (
          await call(`${headerApp!.url}/reports`, {
            headers: { authorization: 'Bearer other-user-token' },
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await call(`${headerApp!.url}/reports`, {
            headers: { authorization: 'Bearer demo-user-token' },
          })
        ).status,
      ).toBe(401);
    });

    it('documents the key scheme as that header', async () => {
      const document = await openApiDocument(headerApp!.url);
      const scheme = document.components.securitySchemes['api-key'];
      // Header names are case-insensitive; the guard reads them lower-cased.
      expect(scheme).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-api-key' });
      expect(scheme).not.toHaveProperty('x-api-key-keyword');
      expect(document.paths['/projects'].get.security).toEqual([{ 'api-key': [] }]);
    });

    it('serves the admin page to admin with the configured password only', async () => {
      const page = (password: string) =>
        call(`${headerApp!.url}/admin/keys`, { headers: basic('admin', password) });
      const refused = await page('demo-admin-password');
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect((await page('other-admin-password')).status).toBe(200);
    });
  });
});
