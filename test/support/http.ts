import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { INestApplication, LoggerService } from '@nestjs/common';
import type { AbstractHttpAdapter } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { DataSourceOptions } from 'typeorm';
import { createTestDatabase, type Engine, type TestDatabase } from './databases.js';

/** Makes the HTTP adapter of one platform, fresh for each app. */
export type AdapterFactory = () => AbstractHttpAdapter;

/** The HTTP platforms every e2e scenario runs on. */
export const ADAPTERS: ReadonlyArray<readonly [platform: string, adapter: AdapterFactory]> = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
];

/** How `startApp` boots an app: its logger, and what to set up before it listens. */
export interface StartOptions {
  logger?: LoggerService;
  /** Runs before the app listens: Fastify takes no new routes (e.g. Swagger UI's) after. */
  beforeListen?: (app: INestApplication) => unknown;
}

/**
 * Boots `module` on a real HTTP server on 127.0.0.1 and returns the app and its base URL. Nest
 * logs nothing unless `options.logger` is given.
 */
export async function startApp(
  module: any,
  adapter: AdapterFactory,
  options: StartOptions = {},
): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
  const app = moduleRef.createNestApplication(adapter(), {
    logger: options.logger ?? false,
  });
  await options.beforeListen?.(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url };
}

/** An app started by `startOnNewDatabase`. */
export interface AppOnNewDatabase {
  app: INestApplication;
  url: string;
  db: TestDatabase;
  /** Closes the app, then drops its database. */
  stop(): Promise<void>;
}

/**
 * Makes a fresh database on `engine` and boots the module `register` builds for it, as
 * `startApp` does. A database whose app fails to boot is dropped before the error is rethrown.
 */
export async function startOnNewDatabase(
  engine: Engine,
  adapter: AdapterFactory,
  register: (database: DataSourceOptions) => unknown,
  options: StartOptions = {},
): Promise<AppOnNewDatabase> {
  const db = await createTestDatabase(engine);
  try {
    const { app, url } = await startApp(register(db.options), adapter, options);
    const stop = async () => {
      await app.close();
      await db.drop();
    };
    return { app, url, db, stop };
  } catch (error) {
    await db.drop();
    throw error;
  }
}

/** GET/POST with headers, returning status, headers and parsed body. */
export async function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: {
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
  });
  const text = await response.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body };
}
