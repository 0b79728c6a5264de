import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/http.js';
import {
  SAMPLE_ENGINES,
  createSampleDatabase,
  startSampleApp,
  type RunningSampleApp,
  type SampleDatabase,
} from '../support/sample-app.js';

const USER = { authorization: 'Bearer demo-user-token' };
const ADMIN = {
  authorization: `Basic ${Buffer.from('admin:demo-admin-password').toString('base64')}`,
  'x-requested-with': 'XMLHttpRequest',
};

/** What an outsider tried around the edges of the sample app (issue 25), each now a 4xx. */
describe.each(SAMPLE_ENGINES)('sample app hardening on %s', { timeout: 120_000 }, (engine) => {
  let db: SampleDatabase;
  let app: RunningSampleApp;

  beforeAll(async () => {
    db = await createSampleDatabase(engine);
    app = await startSampleApp({ DATABASE_URL: db.url });
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  const onboard = (body: unknown) =>
    call(`${app.url}/partners`, { method: 'POST', headers: USER, body });

  it('POST /partners returns its live key with Cache-Control: no-store', async () => {
    const onboarded = await onboard({ name: 'Acme' });
    expect(onboarded.status).toBe(201);
    expect(onboarded.body.key).toEqual(expect.any(String));
    expect(onboarded.headers.get('cache-control')).toBe('no-store');
  });

  it('POST /partners answers 400 to a name that is no plain text, and writes nothing', async () => {
    const before = (await db.rows('partners', ['id'])).length;
    for (const name of [
      { toString: 'x' },
      { toString: { toString: 'x' } },
      ['Acme'],
      'Ac\u0000me',
    ]) {
      const refused = await onboard({ name });
      expect(refused.status, JSON.stringify(name)).toBe(400);
      expect(refused.body.message).toContain('1 to 93 characters');
    }
    expect(await db.rows('partners', ['id'])).toHaveLength(before);
  });

  it('lets a partner grant its keys only order scopes, and hold at most 10 active keys', async () => {
    const partner = (await onboard({ name: 'Limited' })).body.partner.id as string;
    const keys = `${app.url}/admin/partners/${partner}/keys/api/keys`;
    const create = (body: object) => call(keys, { method: 'POST', headers: ADMIN, body });

    const greedy = await create({ name: 'greedy', scopes: ['orders:read', 'projects:write'] });
    expect(greedy.status).toBe(403);
    expect(greedy.body.rule).toBe('grantableScopes');
    const writer = await create({ name: 'writer', scopes: ['orders:read', 'orders:write'] });
    expect(writer.status).toBe(201);
    const patched = await call(`${keys}/${writer.body.apiKey.id}`, {
      method: 'PATCH',
      headers: ADMIN,
      body: { scopes: ['orders:read', 'admin'] },
    });
    expect(patched.status).toBe(403);

    // The onboarding key and "writer" are two of the ten.
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await create({ name: `key ${i}` })).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201, 201, 201, 403]);
    expect((await create({ name: 'one more' })).body.rule).toBe('maxActiveKeys');
  });

  it('limits admin sign-in attempts by IP: 429 with Retry-After, even for the right password', async () => {
    // An instance of its own: being held off must not touch the other tests' admin calls.
    const guarded = await startSampleApp({ DATABASE_URL: db.url });
    try {
      const wrong = {
        authorization: `Basic ${Buffer.from('admin:guess').toString('base64')}`,
      };
      const statuses: number[] = [];
      for (let i = 0; i < 125; i++)
        statuses.push((await call(`${guarded.url}/admin/keys`, { headers: wrong })).status);
      expect(statuses.slice(0, 120).every((status) => status === 401)).toBe(true);
      expect(statuses.slice(120)).toEqual([429, 429, 429, 429, 429]);
      const right = await call(`${guarded.url}/admin/keys`, { headers: ADMIN });
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await guarded.stop();
    }
  });
});
