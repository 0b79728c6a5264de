import 'reflect-metadata';
import { generateKeyPairSync, hash, sign } from 'node:crypto';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey, ApiKeyGuard, ApiKeyModule, ApiKeyService } from '../../lib/index.js';
import { SecretScanningModule, type ApiKeyLeakedEvent } from '../../lib/secret-scanning/index.js';
import { createTestDatabase, ENGINES, type TestDatabase } from '../support/databases.js';
import { ADAPTERS } from '../support/http.js';
import { FAST_BCRYPT } from '../support/key-store.js';

const github = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const impostor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const KEY_ID = 'test-key-1';
const PUBLIC_KEYS = [
  {
    key_identifier: KEY_ID,
    key: github.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    is_current: true,
  },
];

@Controller('projects')
class ProjectsController {
  @Get()
  list() {
    return [];
  }
}

describe.each(ENGINES)('secret scanning on %s', (engine) => {
  describe.each(ADAPTERS)('over %s', (_platform, adapter) => {
    let db: TestDatabase;
    let app: INestApplication;
    let url: string;
    let service: ApiKeyService;
    const events: ApiKeyLeakedEvent[] = [];

    /** POSTs `body` as GitHub would, signed by `signer` unless told otherwise. */
    async function report(
      body: string,
      options: { signer?: typeof github.privateKey; signature?: string; keyId?: string } = {},
    ) {
      const signature =
        options.signature ??
        sign('sha256', Buffer.from(body), options.signer ?? github.privateKey).toString('base64');
      const response = await fetch(`${url}/secret-scanning`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'github-public-key-identifier': options.keyId ?? KEY_ID,
          'github-public-key-signature': signature,
        },
        body,
      });
      const text = await response.text();
      return { status: response.status, text };
    }
    const leak = (token: string) =>
      JSON.stringify([
        { token, type: 'acme_api_key', url: 'https://github.com/o/r/blob/x', source: 'content' },
      ]);
    const projects = async (key: string) =>
      (await fetch(`${url}/projects`, { headers: { authorization: `Api-Key ${key}` } })).status;

    beforeAll(async () => {
      db = await createTestDatabase(engine);
      @Module({
        imports: [
          TypeOrmModule.forRoot({ ...db.options, entities: [ApiKey], synchronize: true }),
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT, keyFormat: 'checksummed', isGlobal: true }),
          SecretScanningModule.forRoot({
            publicKeys: { keys: PUBLIC_KEYS },
            skipApiKey: true,
            onLeaked: (event) => void events.push(event),
          }),
        ],
        controllers: [ProjectsController],
        providers: [{ provide: APP_GUARD, useClass: ApiKeyGuard }],
      })
      class ScanningApp {}
      const moduleRef = await Test.createTestingModule({ imports: [ScanningApp] }).compile();
      app = moduleRef.createNestApplication(adapter(), { logger: false, rawBody: true });
      await app.listen(0, '127.0.0.1');
      url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      service = app.get(ApiKeyService);
    });
    afterAll(async () => {
      await app?.close();
      await db?.drop();
    });

    it('revokes a reported live key, answers true_positive by hash, and the key then gets 401', async () => {
      const { apiKey, key } = await service.create({ name: 'leaky' });
      expect(await projects(key)).toBe(200);
      const answer = await report(leak(key));
      expect(answer.status).toBe(200);
      expect(answer.text).not.toContain(key);
      expect(JSON.parse(answer.text)).toEqual([
        { token_hash: hash('sha256', key), token_type: 'acme_api_key', label: 'true_positive' },
      ]);
      expect(await projects(key)).toBe(401);
      expect(events.at(-1)).toMatchObject({
        id: apiKey.id,
        prefix: apiKey.prefix,
        url: 'https://github.com/o/r/blob/x',
        source: 'content',
        revoked: true,
      });

      // A replay changes nothing: the first revocation time stays, no second event.
      const revokedAt = (await service.findOne(apiKey.id))!.revokedAt;
      const count = events.length;
      expect(JSON.parse((await report(leak(key))).text)[0].label).toBe('true_positive');
      expect((await service.findOne(apiKey.id))!.revokedAt).toEqual(revokedAt);
      expect(events).toHaveLength(count);
    });

    it('a report is no use of the key: lastUsedAt stays as it was', async () => {
      const { apiKey, key } = await service.create({ name: 'never used' });
      expect((await report(leak(key))).status).toBe(200);
      await service.flushUsage();
      expect((await service.findOne(apiKey.id))!.lastUsedAt).toBeNull();
    });

    it('changes nothing for a bad signature, an unknown key id, no signature, or an unknown token', async () => {
      const { apiKey, key } = await service.create({ name: 'safe' });
      const count = events.length;
      expect((await report(leak(key), { signer: impostor.privateKey })).status).toBe(401);
      expect((await report(leak(key), { keyId: 'other' })).status).toBe(401);
      expect((await report(leak(key), { signature: '' })).status).toBe(401);
      const tampered = sign('sha256', Buffer.from(leak('x')), github.privateKey).toString('base64');
      expect((await report(leak(key), { signature: tampered })).status).toBe(401);
      const unknown = await report(leak(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`));
      expect(JSON.parse(unknown.text)[0].label).toBe('false_positive');
      expect((await service.findOne(apiKey.id))!.revoked).toBe(false);
      expect(await projects(key)).toBe(200);
      expect(events).toHaveLength(count);
    });

    it('refuses malformed and oversized reports cleanly, signed or not', async () => {
      for (const body of ['{', '{"token":"x"}', '[{"token":1,"type":"t"}]', '[null]'])
        expect((await report(body)).status, body).toBe(400);
      expect(
        (await report(JSON.stringify(Array(1001).fill({ token: 'a', type: 't' })))).status,
      ).toBe(400);
      expect((await report('x'.repeat(2 * 1024 * 1024))).status).toBe(413);
    });
  });
});
