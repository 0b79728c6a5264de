import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { TypeOrmModule } from '@nestjs/typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/clock.js';
import { FAST_BCRYPT, withOtherSecret, withWrongSecret } from '../../test/support/key-store.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyModule } from '../api-key.module.js';
import { ApiKeyService } from '../api-key.service.js';
import {
  API_KEY_SUSPICIOUS_EVENT,
  GuessingDetector,
  type ApiKeySuspiciousEvent,
} from './guessing.js';

describe('GuessingDetector', () => {
  it('says when a prefix reaches the threshold, once per window, and forgets it after', () => {
    const detector = new GuessingDetector(3, 1_000);
    expect([0, 10, 20, 30].map((at) => detector.note('AbCd1234', at))).toEqual([
      null,
      null,
      3,
      null,
    ]);
    expect(detector.note('Other123', 40)).toBeNull();
    expect(detector.suspicious(500)).toEqual(['AbCd1234']);
    // A new window starts with the first wrong secret after the last one ended.
    expect([1_000, 1_010, 1_020].map((at) => detector.note('AbCd1234', at))).toEqual([
      null,
      null,
      3,
    ]);
    expect(detector.suspicious(2_019)).toEqual(['AbCd1234']);
    expect(detector.suspicious(2_020)).toEqual([]);
  });
});

describe('alerts on guessing in ApiKeyService', () => {
  let moduleRef: TestingModule;
  let service: ApiKeyService;
  const events: ApiKeySuspiciousEvent[] = [];
  const clock = new FakeClock();

  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        EventEmitterModule.forRoot(),
        TypeOrmModule.forRoot({
          type: 'better-sqlite3',
          database: ':memory:',
          entities: [ApiKey],
          synchronize: true,
        }),
        ApiKeyModule.forRoot({
          hasher: FAST_BCRYPT,
          keyFormat: 'checksummed',
          clock: clock.now,
          guessingAlerts: { threshold: 3, window: 60_000 },
        }),
      ],
    }).compile();
    await moduleRef.init();
    service = moduleRef.get(ApiKeyService);
    moduleRef
      .get(EventEmitter2)
      .on(API_KEY_SUSPICIOUS_EVENT, (event: ApiKeySuspiciousEvent) => events.push(event));
  });
  afterAll(() => moduleRef?.close());

  it('emits api-key.suspicious once per window when wrong secrets for one key pass the threshold', async () => {
    const { key, apiKey } = await service.create({ name: 'guessed' });
    const guess = withOtherSecret(key);
    for (let i = 0; i < 4; i++) expect((await service.verify(guess)).valid).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual([
      {
        type: 'suspicious',
        registration: 'default',
        prefix: apiKey.prefix,
        count: 3,
        window: 60_000,
        at: clock.now(),
      },
    ]);
    expect(service.suspiciousPrefixes()).toEqual([apiKey.prefix]);
    expect((await service.verify(key)).valid).toBe(true);
    expect(service.suspiciousPrefixes()).toEqual([apiKey.prefix]);
    clock.advance(120_001);
    expect(service.suspiciousPrefixes()).toEqual([]);
  });

  it('counts a wrong checksum against a key the guard counted lately, and nothing for unknown ones', async () => {
    const { key, apiKey } = await service.create({ name: 'mistyped' });
    service.recordOutcome('ok', apiKey.id, apiKey.prefix);
    const typo = await service.verify(withWrongSecret(key));
    expect(typo).toEqual({ valid: false, reason: 'malformed', prefix: apiKey.prefix });
    for (let i = 0; i < 3; i++) service.recordOutcome('unauthorized', null, apiKey.prefix);
    service.recordOutcome('unknown', null, 'Zz9Zz9Zz');
    await service.flushUsage();
    const report = await service.usage({
      key: apiKey.id,
      since: clock.now(),
      until: new Date(clock.now().getTime() + 1),
      granularity: 'hour',
    });
    expect(report.totals).toMatchObject({ ok: 1, unauthorized: 3, unknown: 0 });
    expect(service.suspiciousPrefixes()).toEqual([apiKey.prefix]);
  });
});
