import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyModule } from '../api-key.module.js';
import { ApiKeyService } from '../api-key.service.js';
import { ApiKeyMetricsModule } from './index.js';

describe('ApiKeyMetricsModule', () => {
  let moduleRef: TestingModule;
  let service: ApiKeyService;
  // The app's own registry, already holding its metrics (as @willsoto/nestjs-prometheus's would).
  const registry = new Registry();
  new Counter({ name: 'http_requests_total', help: 'the app', registers: [registry] }).inc(7);

  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          type: 'better-sqlite3',
          database: ':memory:',
          entities: [ApiKey],
          synchronize: true,
        }),
        ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
        ApiKeyMetricsModule.forRoot({ registry }),
      ],
    }).compile();
    await moduleRef.init();
    service = moduleRef.get(ApiKeyService);
  });
  afterAll(() => moduleRef?.close());

  it('adds its counter and gauge to the app registry, counting each request once across scrapes', async () => {
    const { apiKey } = await service.create({ name: 'scraped' });
    service.recordOutcome('ok', apiKey.id, apiKey.prefix);
    service.recordOutcome('ok', apiKey.id, apiKey.prefix);
    service.recordOutcome('unknown', null);
    await registry.metrics(); // a first scrape must not be counted again by the second
    service.recordOutcome('forbidden', apiKey.id, apiKey.prefix);
    const text = await registry.metrics();
    expect(text).toContain('http_requests_total 7');
    expect(text).toContain('api_key_verifications_total{registration="default",outcome="ok"} 2');
    expect(text).toContain(
      'api_key_verifications_total{registration="default",outcome="forbidden"} 1',
    );
    expect(text).toContain(
      'api_key_verifications_total{registration="default",outcome="unknown"} 1',
    );
    expect(text).toContain(
      'api_key_verifications_total{registration="default",outcome="rate_limited"} 0',
    );
    expect(text).toContain('api_key_cold_path_queued{registration="default"} 0');
    expect(text).not.toMatch(/api_key_verifications_total\{[^}]*key/);
  });

  it('leaves the registry as it found it when the app closes', async () => {
    await moduleRef.close();
    const text = await registry.metrics();
    expect(text).toContain('http_requests_total 7');
    expect(text).not.toContain('api_key_');
  });
});
