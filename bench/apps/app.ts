/**
 * One benchmark app, in its own process so it never shares an event loop with the load
 * generator. Forked by `apps.ts` with the scenario as JSON in `BENCH_SCENARIO`; it reports
 * `ready` with its port (and the key to present) and stops on `stop` or when the parent goes.
 */
import 'reflect-metadata';
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Controller,
  Get,
  Injectable,
  Module,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { ExpressAdapter } from '@nestjs/platform-express';
import { ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import bcrypt from 'bcrypt';
import { HeaderAPIKeyStrategy } from 'passport-headerapikey';
import { DataSource } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  ApiKeyService,
  HmacSha256ApiKeyHasher,
  SkipApiKey,
  type ApiKeyOptions,
} from '../../lib/index.js';
import { generateKey } from '../../lib/keys/format.js';
import { LruMap } from '../../lib/verification/lru.js';
import { ApiKeyThrottlerGuard } from '../../lib/throttler/index.js';
import { bulkInsert, fillerRows } from '../harness/seed.js';
import { AuthorizationHeaderGuard, RoundTripControlGuard } from './controls.js';
import { answerSoakMessage } from './soak-app.js';
import {
  BENCH_ROUTE,
  OPEN_ROUTE,
  STATIC_KEY_HEADER,
  SAME_PROCESS_BODY,
  SAME_PROCESS_ROUTES,
  type BenchDatabase,
  type BenchScenario,
  type BenchThrottle,
  type ChildMessage,
  type MemoMemoryReport,
  type ParentMessage,
} from './scenario.js';

/** Fixed pepper: the bench measures speed, and these keys live only in throwaway databases. */
const BENCH_PEPPER = 'bench-only-pepper-0123456789abcdefghijklmnopqrstuvwxyz';

/** The one route handler every app serves. */
@Controller()
class HelloController {
  @Get(BENCH_ROUTE.slice(1))
  hello() {
    return { hello: 'world' };
  }
}

/** The same handler with the key guard skipped: the same-process rows' open route. */
@Controller()
@SkipApiKey()
class OpenController {
  @Get(OPEN_ROUTE.slice(1))
  hello() {
    return { hello: 'world' };
  }
}

type SameProcessRoute = keyof typeof SAME_PROCESS_ROUTES;

/** The guard in front of each same-process route, `null` for the open one. */
const SAME_PROCESS_GUARDS: Record<SameProcessRoute, Type<CanActivate> | null> = {
  open: null,
  control: AuthorizationHeaderGuard,
  roundTrip: RoundTripControlGuard,
  guarded: ApiKeyGuard,
};

/**
 * A controller answering SAME_PROCESS_BODY at `path`, behind `guard` when there is one: one
 * handler for every route, so that the routes differ by their guard alone.
 */
function sameProcessController(path: string, guard: Type<CanActivate> | null): Type<unknown> {
  @Controller()
  class SameProcessRouteController {
    @Get(path.slice(1))
    handle() {
      return SAME_PROCESS_BODY;
    }
  }
  if (guard) UseGuards(guard)(SameProcessRouteController);
  return SameProcessRouteController;
}

/**
 * `passport-headerapikey` through `@nestjs/passport`, as Nest users wire it today. The
 * second argument must be `false`: with `passReqToCallback: true` the strategy calls
 * `verify(apiKey, done, req)` and Nest's mixin takes `req` for `done`.
 */
function passportStrategy(staticKey: string) {
  const expected = createHash('sha256').update(staticKey).digest();
  @Injectable()
  class HeaderApiKeyStrategy extends PassportStrategy(HeaderAPIKeyStrategy, 'headerapikey') {
    constructor() {
      super({ header: STATIC_KEY_HEADER, prefix: '' }, false);
    }

    validate(apiKey: string) {
      // Comparing digests keeps the comparison constant-time whatever the presented length.
      if (!timingSafeEqual(createHash('sha256').update(apiKey).digest(), expected))
        throw new UnauthorizedException();
      return { name: 'static' };
    }
  }
  return HeaderApiKeyStrategy;
}

/** What a hand-rolled guard typically does: `bcrypt.compare` of the presented key on every request. */
function naiveBcryptGuard(hashedKey: string) {
  @Injectable()
  class NaiveBcryptGuard implements CanActivate {
    async canActivate(context: ExecutionContext): Promise<boolean> {
      const key = context.switchToHttp().getRequest().headers[STATIC_KEY_HEADER];
      if (typeof key !== 'string' || !(await bcrypt.compare(key, hashedKey)))
        throw new UnauthorizedException();
      return true;
    }
  }
  return NaiveBcryptGuard;
}

/**
 * Checks nothing, and lets the request through after the same two event-loop turns the key
 * lookup waits before it starts a read: it separates what deferring the answer does to the
 * app's throughput from what the guard's work costs.
 */
@Injectable()
class DeferredGuard implements CanActivate {
  canActivate(): Promise<boolean> {
    return new Promise((resolve) => setImmediate(() => setImmediate(() => resolve(true))));
  }
}

function typeOrmOptions(db: BenchDatabase): Record<string, unknown> {
  const base = { autoLoadEntities: true, synchronize: true, logging: false };
  return db.engine === 'sqlite'
    ? { ...base, type: 'better-sqlite3', database: db.file }
    : { ...base, ...db.options };
}

/**
 * The throttler of rows 9a and 9b, with a limit no row reaches: they measure what counting each
 * request costs, not what refusing one does.
 */
function throttlerModule(throttle: BenchThrottle): DynamicModule {
  return ThrottlerModule.forRoot({
    throttlers: [{ ttl: 60_000, limit: 1_000_000_000 }],
    storage:
      throttle.storage === 'redis'
        ? new ThrottlerStorageRedisService(throttle.url, { keyPrefix: throttle.keyPrefix })
        : undefined,
  });
}

/** The module options of an ApiKeyGuard row: its hasher, and notify mode or no analytics when the row asks. */
function apiKeyOptions(scenario: Extract<BenchScenario, { guard: 'api-key' }>): ApiKeyOptions {
  return {
    ...(scenario.hasher === 'hmac'
      ? { hasher: new HmacSha256ApiKeyHasher({ secret: BENCH_PEPPER }) }
      : {}),
    ...(scenario.revocationSync ? { revocationSync: scenario.revocationSync } : {}),
    ...(scenario.storeTimeout ? { storeTimeout: scenario.storeTimeout } : {}),
    ...(scenario.usageAnalytics === false ? { usageAnalytics: false } : {}),
  };
}

function appModule(scenario: BenchScenario): DynamicModule {
  const imports: DynamicModule['imports'] = [];
  const providers: Provider[] = [];
  switch (scenario.guard) {
    case 'none':
      break;
    case 'deferred':
      providers.push({ provide: APP_GUARD, useClass: DeferredGuard });
      break;
    case 'passport':
      imports.push(PassportModule);
      providers.push(passportStrategy(scenario.key), {
        provide: APP_GUARD,
        useClass: AuthGuard('headerapikey'),
      });
      break;
    case 'naive-bcrypt':
      providers.push({ provide: APP_GUARD, useClass: naiveBcryptGuard(scenario.hashedKey) });
      break;
    case 'api-key':
      imports.push(
        TypeOrmModule.forRoot(typeOrmOptions(scenario.db) as any),
        ApiKeyModule.forRoot(apiKeyOptions(scenario)),
      );
      providers.push({ provide: APP_GUARD, useClass: ApiKeyGuard });
      // Global guards run in the order provided: the key first, then the count under it.
      if (scenario.throttle) {
        imports.push(throttlerModule(scenario.throttle));
        providers.push({ provide: APP_GUARD, useClass: ApiKeyThrottlerGuard });
      }
      break;
    case 'same-process':
      imports.push(
        TypeOrmModule.forRoot(typeOrmOptions(scenario.db) as any),
        ApiKeyModule.forRoot(
          scenario.revocationSync ? { revocationSync: scenario.revocationSync } : {},
        ),
      );
      providers.push(AuthorizationHeaderGuard, RoundTripControlGuard);
      break;
    case 'memo-memory':
      imports.push(
        TypeOrmModule.forRoot(typeOrmOptions(scenario.db) as any),
        ApiKeyModule.forRoot({
          hasher: new HmacSha256ApiKeyHasher({ secret: BENCH_PEPPER }),
          verificationMemo: { maxEntries: scenario.keys },
          usageTracking: false,
        }),
      );
      break;
  }
  const controllers =
    scenario.guard === 'same-process'
      ? (Object.keys(SAME_PROCESS_GUARDS) as SameProcessRoute[]).map((route) =>
          sameProcessController(SAME_PROCESS_ROUTES[route], SAME_PROCESS_GUARDS[route]),
        )
      : scenario.guard === 'api-key' && scenario.openRoute
        ? [HelloController, OpenController]
        : [HelloController];
  @Module({})
  class BenchAppModule {}
  return { module: BenchAppModule, imports, providers, controllers };
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

function settle(): void {
  for (let i = 0; i < 3; i++) (globalThis as any).gc();
}

function memory(): { heap: number; external: number } {
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, external: usage.external };
}

/**
 * Heap taken by the memo for `count` distinct live keys: verified once each through the real
 * service (HMAC hasher, so filling it costs seconds, not hours of bcrypt), measured between
 * forced collections; then the same count put straight into an `LruMap` with the memo's entry
 * shape and a bcrypt-length stored hash, which is what the default configuration holds.
 */
async function measureMemo(app: INestApplication, count: number): Promise<MemoMemoryReport> {
  const service = app.get(ApiKeyService);
  const hasher = new HmacSha256ApiKeyHasher({ secret: BENCH_PEPPER });
  const keys: string[] = [];
  const rows = [];
  for (let i = 0; i < count; i++) {
    const { key, prefix } = generateKey();
    keys.push(key);
    rows.push({ prefix, hashedKey: await hasher.hash(key) });
  }
  await bulkInsert(app.get(DataSource), rows);
  rows.length = 0;

  settle();
  const before = memory();
  for (const key of keys) {
    if (!(await service.verify(key)).valid) throw new Error('a seeded key did not verify');
  }
  settle();
  const after = memory();
  const memoSize = (service as any).verifier.memo.size as number;

  const shaped = new LruMap<string, { hashedKey: string; digest: Buffer }>(count);
  settle();
  const shapeBefore = memory();
  for (let i = 0; i < count; i++) {
    // Distinct strings of a real id's and bcrypt hash's length, as rows read from the database give.
    const id = `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
    const hashedKey = `$2b$10$${i.toString(36).padStart(53, 'x')}`;
    shaped.set(id, { hashedKey, digest: createHash('sha256').update(id).digest() });
  }
  settle();
  const shapeAfter = memory();
  if (shaped.size !== count) throw new Error('LruMap did not keep every entry');

  return {
    entries: count,
    servicePath: {
      heapBytes: after.heap - before.heap,
      externalBytes: after.external - before.external,
      memoSize,
    },
    entryShape: {
      heapBytes: shapeAfter.heap - shapeBefore.heap,
      externalBytes: shapeAfter.external - shapeBefore.external,
    },
  };
}

async function main(): Promise<void> {
  const scenario = JSON.parse(process.env.BENCH_SCENARIO ?? '') as BenchScenario;
  const app = await NestFactory.create(appModule(scenario), new ExpressAdapter(), {
    logger: false,
  });
  await app.init();

  let key: string | undefined;
  let seedMs: number | undefined;
  if (scenario.guard === 'api-key' || scenario.guard === 'same-process') {
    const started = performance.now();
    // One real hash of the default hasher, shared by every filler row.
    const fillerHash = await app.get(ApiKeyService).options.hasher.hash(generateKey().key);
    await bulkInsert(app.get(DataSource), fillerRows(scenario.keys - 1, fillerHash));
    seedMs = performance.now() - started;
    const policies = scenario.guard === 'api-key' ? scenario.keyPolicies : undefined;
    key = (await app.get(ApiKeyService).create({ name: 'bench', ...policies })).key;
  }
  if (scenario.guard === 'memo-memory') {
    send({ type: 'memory', report: await measureMemo(app, scenario.keys) });
    await app.close();
    process.exit(0);
  }

  process.on('message', (message: ParentMessage) => {
    if (answerSoakMessage(app, message, send)) return;
    if (message.type === 'create-keys') {
      const service = app.get(ApiKeyService);
      Promise.all(
        Array.from({ length: message.count }, (_, i) => service.create({ name: `extra ${i}` })),
      )
        .then((created) => send({ type: 'keys', keys: created.map((c) => c.key) }))
        .catch((error: Error) => send({ type: 'error', message: error.message }));
    } else if (message.type === 'cpu') {
      const usage = process.cpuUsage();
      send({ type: 'cpu', micros: usage.user + usage.system });
    } else if (message.type === 'stop') {
      void app.close().finally(() => process.exit(0));
    }
  });
  // An orphaned app would hold its port and database: go when the orchestrator goes.
  process.on('disconnect', () => process.exit(0));

  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  send({ type: 'ready', port: address.port, key, seedMs });
}

main().catch((error: Error) => {
  send({ type: 'error', message: error?.stack ?? String(error) });
  process.exit(1);
});
