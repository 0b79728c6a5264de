import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSampleDatabase,
  lastLine,
  runCli,
  SAMPLE_ENGINES,
  startSampleApp,
  type RunningSampleApp,
  type SampleDatabase,
} from '../support/sample-app.js';

/** The sample app contract of the leaked-keys issue: checksummed keys and `POST /secret-scanning`. */
describe.each(SAMPLE_ENGINES)('sample app leaked keys on %s', { timeout: 120_000 }, (engine) => {
  const github = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let db: SampleDatabase;
  let app: RunningSampleApp | undefined;
  let key: string;

  const projects = async (presented: string) =>
    (await fetch(`${app!.url}/projects`, { headers: { authorization: `Api-Key ${presented}` } }))
      .status;

  beforeAll(async () => {
    db = await createSampleDatabase(engine);
    const file = join(mkdtempSync(join(tmpdir(), 'scanning-keys-')), 'keys.json');
    const pem = github.publicKey.export({ type: 'spki', format: 'pem' });
    writeFileSync(
      file,
      JSON.stringify({ public_keys: [{ key_identifier: 'k1', key: pem, is_current: true }] }),
    );
    const made = await runCli(
      ['create', '--name', 'leaky', '--scopes', 'projects:read', '--json'],
      {
        DATABASE_URL: db.url,
      },
    );
    expect(made.code, made.stderr).toBe(0);
    key = JSON.parse(lastLine(made.stdout)).key;
    app = await startSampleApp({ DATABASE_URL: db.url, SECRET_SCANNING_PUBLIC_KEYS: file });
  });
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('npm run keys -- create makes checksummed keys; one changed checksum character gets 401', async () => {
    expect(key).toMatch(/^v1_[A-Za-z0-9]{8}_[A-Za-z0-9]{38}$/);
    expect(await projects(key)).toBe(200);
    const typo = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    expect(await projects(typo)).toBe(401);
  });

  it('a signed report of a live key revokes it: the next request with it gets 401', async () => {
    const body = JSON.stringify([
      { token: key, type: 'sample_api_key', url: 'https://x', source: 'content' },
    ]);
    const send = (signature: string) =>
      fetch(`${app!.url}/secret-scanning`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'github-public-key-identifier': 'k1',
          'github-public-key-signature': signature,
        },
        body,
      });
    const forged = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect((await send(sign('sha256', Buffer.from(body), forged).toString('base64'))).status).toBe(
      401,
    );
    expect(await projects(key)).toBe(200);
    const answer = await send(
      sign('sha256', Buffer.from(body), github.privateKey).toString('base64'),
    );
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { label: string }[])[0].label).toBe('true_positive');
    expect(await projects(key)).toBe(401);
  });
});
