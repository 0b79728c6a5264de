import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyModule, ApiKeyService } from '../../lib/index.js';
import { generateKey } from '../../lib/keys/format.js';
import { SecretScanningModule } from '../../lib/secret-scanning/index.js';
import { AdminPolicyTestModule, Org, ORGS } from '../admin/admin-policy.app.js';
import { ADMIN_AUTH } from '../admin/admin.app.js';
import { createTestDatabase, ENGINES, type TestDatabase } from '../support/databases.js';
import { ADAPTERS, startOnNewDatabase, type AppOnNewDatabase } from '../support/http.js';
import { githubSigner } from '../support/github-signer.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';
import { anyTextArb, FUZZ_SEED, fuzzRuns } from './arbitraries.js';

/** What no client may read: drivers' and TypeORM's words for a refused row or a failed query. */
const DRIVER_TEXT =
  /sqlite|constraint|foreign key|violates|QueryFailed|invalid byte|ER_|policy_org/i;

/** Values a JSON field can hold that a handler could trip on: wrong types, NULs, huge text. */
const hostileValueArb: fc.Arbitrary<unknown> = fc.oneof(
  anyTextArb,
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '30d',
    '-1d',
    '0d',
    'null',
    '2030-02-30',
    'x'.repeat(300),
  ),
  fc.constantFrom(null, true, 0, -1, 1e308, 31_536_000_001),
  fc.record({ toString: fc.constantFrom('x', 1) }),
  fc.array(fc.oneof(anyTextArb, fc.constantFrom('orders:read', 'admin', '\u0000')), {
    maxLength: 4,
  }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A field's value: mostly one the API takes (so requests get as far as the database), or hostile. */
const fieldArb = (...plausible: unknown[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...plausible), weight: 3 },
    { arbitrary: hostileValueArb, weight: 1 },
  );

/** A JSON body of the admin API: its fields (and others) with hostile values, or any JSON at all. */
const adminBodyArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    arbitrary: fc.record(
      {
        name: fieldArb('billing', 'nul\u0000name', 'x'.repeat(100)),
        scopes: fieldArb(['orders:read'], 'orders:read, orders:write', ['admin']),
        expiresAt: fieldArb('7d', '2030-01-31', null),
        owner: fieldArb(...ORGS, 'no-such-org'),
        gracePeriod: fieldArb(0, 60_000),
        ids: hostileValueArb,
        __proto__: hostileValueArb,
      },
      { requiredKeys: [] },
    ),
    weight: 6,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
);

/** One admin API request: an operation on a known or made-up key, a body, or raw text. */
const adminRequestArb = fc.record({
  root: fc.constantFrom('org/keys', 'ops/org-keys'),
  org: fc.constantFrom(...ORGS, 'no-such-org', ''),
  operation: fc.constantFrom('create', 'update', 'rotate', 'revoke', 'revokeMany', 'list', 'show'),
  key: fc.oneof(fc.constantFrom(0, 1, 2), anyTextArb),
  body: fc.oneof(
    { arbitrary: adminBodyArb.map((body) => JSON.stringify(body)), weight: 8 },
    { arbitrary: anyTextArb, weight: 1 },
  ),
  query: fc.dictionary(
    fc.constantFrom('search', 'status', 'owner', 'sort', 'order', 'page', 'pageSize', '__proto__'),
    fc.oneof(anyTextArb, fc.constantFrom('active', 'name', 'asc', '0', '1', '100', '999999999')),
    { maxKeys: 4 },
  ),
});

/**
 * fast-check-generated admin API requests (owner-scoped under a policy, and admin mode with a
 * foreign-key owner) on every engine and platform: not one 5xx, and no driver text in any answer.
 */
describe.each(ADAPTERS)('fuzzed admin API inputs on %s', (_platform, adapter) => {
  describe.each(ENGINES)('on %s', (engine) => {
    let started: AppOnNewDatabase;
    const ids: string[] = [];

    beforeAll(async () => {
      started = await startOnNewDatabase(engine, adapter, (database) =>
        AdminPolicyTestModule.register(database, () => new Date()),
      );
      await started.app
        .get(DataSource)
        .getRepository(Org)
        .insert(ORGS.map((id) => ({ id })));
      for (const org of ORGS) {
        const created = await fetch(`${started.url}/org/keys/api/keys`, {
          method: 'POST',
          headers: {
            authorization: ADMIN_AUTH,
            'x-requested-with': 'XMLHttpRequest',
            'x-org': org,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ name: `seed ${org}` }),
        });
        ids.push(((await created.json()) as { apiKey: { id: string } }).apiKey.id);
      }
    });
    afterAll(() => started?.stop());

    it('never answers 5xx nor quotes the database', async () => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(adminRequestArb, async ({ root, org, operation, key, body, query }) => {
          const id = encodeURIComponent(typeof key === 'number' ? (ids[key] ?? 'x') : key || 'x');
          const [method, path] = {
            create: ['POST', ''],
            update: ['PATCH', `/${id}`],
            rotate: ['POST', `/${id}/rotate`],
            revoke: ['POST', `/${id}/revoke`],
            revokeMany: ['POST', '/revoke'],
            list: ['GET', `?${new URLSearchParams(query as Record<string, string>)}`],
            show: ['GET', `/${id}`],
          }[operation];
          const response = await fetch(`${started.url}/${root}/api/keys${path}`, {
            method,
            headers: {
              authorization: ADMIN_AUTH,
              'x-requested-with': 'XMLHttpRequest',
              ...(org ? { 'x-org': org } : {}),
              ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
            },
            body: method === 'GET' ? undefined : body,
          });
          const text = await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect(response.status, `${method} ${path} ${body}: ${text}`).toBeLessThan(500);
          expect(text).not.toMatch(DRIVER_TEXT);
        }),
        { seed: FUZZ_SEED, numRuns: fuzzRuns(150) },
      );
      // Both sides were reached: accepted changes and refusals.
      expect([...statuses.keys()].some((status) => status < 300)).toBe(true);
      expect([...statuses.keys()].some((status) => status >= 400)).toBe(true);
    }, 120_000);
  });
});

const github = githubSigner();

/** A report body: matches of every shape, real-looking tokens among them, or any bytes at all. */
const reportBodyArb: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc
      .array(
        fc.oneof(
          fc.record(
            {
              token: fc.oneof(
                hostileValueArb,
                fc.constant(null).map(() => generateKey('', 'checksummed').key),
              ),
              type: hostileValueArb,
              url: hostileValueArb,
              source: hostileValueArb,
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        { maxLength: 5 },
      )
      .map((entries) => JSON.stringify(entries)),
    weight: 6,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)), weight: 1 },
  { arbitrary: anyTextArb, weight: 2 },
);

/** How a report arrives: signed or not, and with any content type or none. */
const reportArb = fc.record({
  body: reportBodyArb,
  signed: fc.boolean(),
  contentType: fc.constantFrom(
    'application/json',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=latin1',
    'application/octet-stream',
    undefined,
  ),
});

/**
 * fast-check-generated secret-scanning reports, signed and unsigned, of any body and content
 * type: not one 5xx. SQLite only: the tokens' lookup is the verification every engine shares.
 */
describe.each(ADAPTERS)('fuzzed secret-scanning bodies on %s', (_platform, adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    const moduleRef = await Test.createTestingModule({
      imports: [
        typeOrmFor(db.options),
        ApiKeyModule.forRoot({ hasher: FAST_BCRYPT, keyFormat: 'checksummed' }),
        SecretScanningModule.forRoot({ publicKeys: { keys: github.publicKeys } }),
      ],
    }).compile();
    app = moduleRef.createNestApplication(adapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
    url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/secret-scanning`;
    await app.get(ApiKeyService).create({ name: 'reported' });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('never answers 5xx, signed or not', async () => {
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(reportArb, async ({ body, signed, contentType }) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: {
            ...(contentType ? { 'content-type': contentType } : {}),
            ...(signed ? github.headers(body) : {}),
          },
          body,
        });
        const text = await response.text();
        statuses.add(response.status);
        expect(response.status, `${contentType} ${signed} ${body}: ${text}`).toBeLessThan(500);
        if (!signed) expect(response.status).toBe(401);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(300) },
    );
    // Signed reports got past the signature: both answered and refused ones.
    expect(statuses).toContain(200);
    expect(statuses).toContain(400);
  }, 120_000);
});
