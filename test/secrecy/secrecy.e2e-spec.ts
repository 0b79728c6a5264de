import 'reflect-metadata';
import { Controller, Get, Module, Post, UseGuards, type LoggerService } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyGuard, ApiKeyModule, ApiKeyService, RequireScopes } from '../../lib/index.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { typeOrmFor } from '../support/scenario-app.js';

/** Keeps every line any logger writes, at every level, so the test can search them. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private keep(...parts: unknown[]) {
    this.lines.push(parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' '));
  }
  log(...a: unknown[]) {
    this.keep(...a);
  }
  error(...a: unknown[]) {
    this.keep(...a);
  }
  warn(...a: unknown[]) {
    this.keep(...a);
  }
  debug(...a: unknown[]) {
    this.keep(...a);
  }
  verbose(...a: unknown[]) {
    this.keep(...a);
  }
  fatal(...a: unknown[]) {
    this.keep(...a);
  }
}

@Controller()
@UseGuards(ApiKeyGuard)
class SecretController {
  @Get('data')
  data() {
    return { ok: true };
  }

  @Post('data')
  @RequireScopes('data:write')
  write() {
    return { ok: true };
  }
}

describe.each(['sqlite', 'postgres'] as const)('the plaintext key leaks nowhere (%s)', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let app: any;
    let url: string;
    let stop: () => Promise<void>;
    const logger = new CapturingLogger();
    // TypeORM's own log of every statement and its parameters goes to the same place. Its
    // INSERTs hold the hash and the tag, as the app's own logging setting chose.
    const sqlLines = new Set<string>();
    const typeormLogger = {
      logQuery: (query: string, parameters?: unknown[]) => {
        logger.log(query, parameters ?? []);
        sqlLines.add(logger.lines.at(-1)!);
      },
      logQueryError: (error: unknown, query: string, parameters?: unknown[]) =>
        logger.error(String(error), query, parameters ?? []),
      logQuerySlow: (time: number, query: string, parameters?: unknown[]) =>
        logger.warn(String(time), query, parameters ?? []),
      logSchemaBuild: (message: string) => logger.log(message),
      logMigration: (message: string) => logger.log(message),
      log: (_level: string, message: unknown) => logger.log(message),
    };
    const bodies: string[] = [];
    let key: string;
    let service: ApiKeyService;

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase(
        engine,
        adapter,
        (database) => {
          @Module({
            imports: [
              typeOrmFor(database, { logging: 'all', logger: typeormLogger }),
              ApiKeyModule.forRoot(),
            ],
            controllers: [SecretController],
          })
          class AppModule {}
          return AppModule;
        },
        { logger },
      ));
      service = app.get(ApiKeyService);
      ({ key } = await service.create({ name: 'secret-holder', scopes: ['data:read'] }));
    });
    afterAll(() => stop?.());

    it('answers every kind of request without echoing the key', async () => {
      const secret = key.slice(9);
      const variants = [
        key,
        `${key} `,
        key.toUpperCase(),
        `${key.slice(0, 9)}${'x'.repeat(32)}`,
        `${key}${key}`,
      ];
      for (const variant of variants) {
        for (const method of ['GET', 'POST']) {
          const response = await call(`${url}/data`, {
            method,
            headers: { authorization: `Api-Key ${variant}` },
          });
          expect([200, 401, 403]).toContain(response.status);
          bodies.push(JSON.stringify(response.body));
        }
      }
      const viaQuery = await call(`${url}/data?api_key=${encodeURIComponent(key)}`);
      expect(viaQuery.status).toBe(401);
      bodies.push(JSON.stringify(viaQuery.body));
      await service.revoke(key.slice(0, 8));
      const revoked = await call(`${url}/data`, { headers: { authorization: `Api-Key ${key}` } });
      expect(revoked.status).toBe(401);
      bodies.push(JSON.stringify(revoked.body));
      await service.flushUsage();

      // The suite must actually have produced output to search, or the check proves nothing.
      expect(logger.lines.length).toBeGreaterThan(0);
      expect(logger.lines.join('\n')).toContain('SELECT');
      for (const text of [...logger.lines, ...bodies]) {
        expect(text).not.toContain(secret);
      }
      const listed = JSON.stringify(await service.list());
      expect(listed).toContain(key.slice(0, 8));
      expect(listed).not.toContain(secret);
      expect(listed).not.toContain('hashed');
      expect(listed).not.toMatch(/secret_?tag/i);
      // The tag stays in the table: no response body or line of the library's logs holds it.
      const [{ secret_tag: tag }] = await app
        .get(DataSource)
        .query(`SELECT secret_tag FROM api_keys WHERE prefix = '${key.slice(0, 8)}'`);
      expect(tag).toMatch(/^[0-9a-f]{16}$/);
      const libraryLines = logger.lines.filter((line) => !sqlLines.has(line));
      expect(libraryLines.length).toBeGreaterThan(0);
      for (const text of [...libraryLines, ...bodies]) expect(text).not.toContain(tag);
    });

    it('stores only a hash', async () => {
      const rows: Array<Record<string, unknown>> = await app
        .get(DataSource)
        .query('SELECT * FROM api_keys');
      expect(rows.length).toBe(1);
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(key.slice(9));
      expect(String(rows[0].hashed_key)).toMatch(/^\$2b\$10\$/);
    });
  });
});
