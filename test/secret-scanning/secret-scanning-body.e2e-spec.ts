import 'reflect-metadata';
import { hash, randomBytes } from 'node:crypto';
import { Body, Controller, Post, type LoggerService } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyModule, ApiKeyService } from '../../lib/index.js';
import { checksumOf, generateKey } from '../../lib/keys/format.js';
import { SecretScanningModule } from '../../lib/secret-scanning/index.js';
import { FakeClock } from '../support/clock.js';
import { ENGINES } from '../support/databases.js';
import { startOnNewDatabase, type AppOnNewDatabase } from '../support/http.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { githubSigner } from '../support/github-signer.js';
import { typeOrmFor } from '../support/scenario-app.js';

const github = githubSigner();

/** An app route of its own, whose JSON body the app's parsers must still read. */
@Controller('echo')
class EchoController {
  @Post()
  echo(@Body() body: unknown) {
    return { body };
  }
}

/** Both platforms with their parsers' defaults at 100 KB: Express's own, and Fastify's set so. */
const PLATFORMS = [
  ['express (100 KB JSON limit)', () => new ExpressAdapter()],
  ['fastify (bodyLimit 100 KB)', () => new FastifyAdapter({ bodyLimit: 100 * 1024 })],
] as const;

/** A logger that keeps its error and warning lines. */
function keptLog() {
  const lines: { level: string; message: string }[] = [];
  const keep = (level: string) => (message: unknown) =>
    void lines.push({ level, message: String(message) });
  const logger: LoggerService = {
    log: () => undefined,
    error: keep('error'),
    warn: keep('warn'),
  };
  return { lines, logger };
}

/** `count` matches as GitHub batches them: real-looking tokens, commit URLs, ~170 bytes each. */
function realisticReport(count: number, tokens: string[] = []): string {
  return JSON.stringify(
    Array.from({ length: count }, (_, i) => ({
      token: tokens[i] ?? generateKey('', 'checksummed').key,
      type: 'acme_api_key',
      url: `https://github.com/octo-org/service-${i}/blob/${randomBytes(20).toString('hex')}/src/config/settings.ts`,
      source: 'content',
    })),
  );
}

describe.each(ENGINES)('secret-scanning report bodies on %s', (engine) => {
  describe.each(PLATFORMS)('over %s', (_platform, adapter) => {
    let started: AppOnNewDatabase;
    let service: ApiKeyService;
    const clock = new FakeClock(new Date('2030-01-01T00:00:00Z'));
    const log = keptLog();

    const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
      fetch(`${started.url}/secret-scanning`, { method: 'POST', headers, body });
    const signed = (body: string) =>
      post(body, { 'content-type': 'application/json', ...github.headers(body) });

    beforeAll(async () => {
      // No rawBody: the endpoint reads its own body.
      started = await startOnNewDatabase(
        engine,
        adapter,
        (database) => ({
          module: class ReportBodiesApp {},
          imports: [
            typeOrmFor(database),
            ApiKeyModule.forRoot({
              hasher: FAST_BCRYPT,
              keyFormat: 'checksummed',
              clock: clock.now,
            }),
            SecretScanningModule.forRoot({ publicKeys: { keys: github.publicKeys } }),
          ],
          controllers: [EchoController],
        }),
        { logger: log.logger },
      );
      service = started.app.get(ApiKeyService);
    });
    afterAll(() => started?.stop());

    it('answers a signed report of 1,000 realistic matches (over 100 KB), revoking the live key in it', async () => {
      const { apiKey, key } = await service.create({ name: 'batched' });
      const body = realisticReport(1000, [key]);
      expect(Buffer.byteLength(body)).toBeGreaterThan(150 * 1024);
      const response = await signed(body);
      expect(response.status).toBe(200);
      const labels = (await response.json()) as { label: string }[];
      expect(labels).toHaveLength(1000);
      expect(labels[0]).toEqual({
        token_hash: hash('sha256', key),
        token_type: 'acme_api_key',
        label: 'true_positive',
      });
      expect(labels.slice(1).every((entry) => entry.label === 'false_positive')).toBe(true);
      expect((await service.findOne(apiKey.id))!.revoked).toBe(true);
    });

    it("leaves the app's own routes to its parsers, limit included", async () => {
      const small = await fetch(`${started.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hello: 'world' }),
      });
      expect(await small.json()).toEqual({ body: { hello: 'world' } });
      const large = await fetch(`${started.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'x'.repeat(200 * 1024) }),
      });
      expect(large.status).toBe(413);
    });

    it('answers an unsigned text/plain body with a 401 and logs no error', async () => {
      const before = log.lines.length;
      for (const headers of [
        { 'content-type': 'text/plain' },
        { 'content-type': 'application/x-anything' },
        {},
      ] as Record<string, string>[]) {
        const response = await post('not a report', headers);
        expect(response.status, JSON.stringify(headers)).toBe(401);
      }
      expect(log.lines.slice(before).filter((line) => line.level === 'error')).toEqual([]);
    });

    it('answers a body over maxBodyBytes with 413, and the next report still works', async () => {
      const big = await signed(`[${' '.repeat(1024 * 1024)}]`);
      expect(big.status, await big.text()).toBe(413);
      expect((await signed('[]')).status).toBe(200);
    });

    it('labels a revoked or expired key true_positive only for its own secret', async () => {
      const revoked = await service.create({ name: 'revoked' });
      await service.revoke(revoked.apiKey.id);
      const expiring = await service.create({
        name: 'expiring',
        expiresAt: new Date(clock.now().getTime() + 60_000),
      });
      clock.advance(120_000);
      /** The same prefix with another secret: well formed, its checksum correct. */
      const madeUp = (key: string) => {
        const secret = generateKey('', 'checksummed').key.slice(12, -6);
        const body = `${key.slice(0, 12)}${secret}`;
        return `${body}${checksumOf(body)}`;
      };
      const tokens = [revoked.key, expiring.key, madeUp(revoked.key), madeUp(expiring.key)];
      const labels = (await (await signed(realisticReport(4, tokens))).json()) as {
        label: string;
      }[];
      expect(labels.map((entry) => entry.label)).toEqual([
        'true_positive',
        'true_positive',
        'false_positive',
        'false_positive',
      ]);
    });
  });
});
