import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/http.js';
import { nextOrNotified } from '../support/revocation-sync-mode.js';
import {
  createSampleDatabase,
  startSampleApp,
  type RunningSampleApp,
  type SampleDatabase,
} from '../support/sample-app.js';

/** The sample app's admin login, and the header its management API wants of a script. */
const ADMIN = {
  authorization: `Basic ${Buffer.from('admin:demo-admin-password').toString('base64')}`,
  'x-requested-with': 'XMLHttpRequest',
};

/**
 * Two servers for real: the sample app started twice, as two OS processes, on one PostgreSQL
 * database. Nothing is shared between them but the database, so a key one process revoked must
 * be refused by the other on its very next request (default mode reads the row on every
 * request; the notify project runs them with API_KEY_REVOCATION_SYNC=notify, where the other
 * hears of it by notification instead).
 */
describe(
  'revocation across two processes of the sample app (postgres)',
  { timeout: 120_000 },
  () => {
    let db: SampleDatabase;
    const processes: RunningSampleApp[] = [];

    beforeAll(async () => {
      db = await createSampleDatabase('postgres');
      // One after the other: the first start makes the schema, the second finds it.
      for (let i = 0; i < 2; i++) processes.push(await startSampleApp({ DATABASE_URL: db.url }));
    }, 120_000);
    afterAll(async () => {
      await Promise.all(processes.map((running) => running.stop()));
      await db?.drop();
    });

    it('a key revoked through one process is refused by the other on its next request', async () => {
      const [one, two] = processes.map((running) => running.url);
      expect(one).not.toBe(two);
      const made = await call(`${one}/admin/keys/api/keys`, {
        method: 'POST',
        headers: ADMIN,
        body: { name: 'two-processes' },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      const { apiKey, key } = made.body as { apiKey: { id: string }; key: string };
      const projects = async (url: string) =>
        (await call(`${url}/projects`, { headers: { authorization: `Api-Key ${key}` } })).status;
      // Both processes have let the key in, so whatever either keeps of it is warm.
      for (const url of [one, two]) expect(await projects(url)).toBe(200);

      const revoked = await call(`${one}/admin/keys/api/keys/${apiKey.id}/revoke`, {
        method: 'POST',
        headers: ADMIN,
      });
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      expect(await nextOrNotified(() => projects(two), 401)).toBe(401);
      expect(await projects(one)).toBe(401);
    });
  },
);
