import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ApiKeyService, type ApiKey } from '../lib/index.js';
import { AppModule } from './app.module.js';
import { loadSampleConfig, type SampleConfig } from './config.js';
import { createDemoKeyIfNone, demoKeyBanner } from './demo-key.js';
import { setupSampleDocs } from './openapi.js';

function describeDatabase(config: SampleConfig): string {
  const { database } = config;
  return database.type === 'better-sqlite3' ? `SQLite file ${database.database}` : database.type;
}

async function bootstrap(): Promise<void> {
  const config = loadSampleConfig();
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    logger: ['error', 'warn'],
    abortOnError: false,
    // Secret scanning checks GitHub's signature over the body exactly as received.
    rawBody: true,
  });
  app.enableShutdownHooks();
  setupSampleDocs(app);
  let demoKey: string | null;
  try {
    demoKey = await createDemoKeyIfNone(app.get<ApiKeyService<ApiKey>>(ApiKeyService));
    await app.listen(config.port, '127.0.0.1');
  } catch (error) {
    await app.close();
    throw error;
  }
  const baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  // Written straight to stdout, never through the logger: logs are kept and shipped, this is not.
  if (demoKey) process.stdout.write(`${demoKeyBanner(baseUrl, demoKey, config.apiKeyHeader)}\n`);
  process.stdout.write(
    `Sample app listening on ${baseUrl} (${describeDatabase(config)}). Stop it with Ctrl+C.\n`,
  );
}

bootstrap().catch((error: Error) => {
  process.stderr.write(
    `The sample app could not start: ${String(error?.message ?? error).split('\n')[0]}\n`,
  );
  process.exitCode = 1;
});
