/**
 * The sample app's TypeORM DataSource, for the key CLI (`npm run keys -- <command>` passes
 * `--data-source` pointing at this file, compiled). It reads the same DATABASE_URL and
 * API_KEY_HEADER as the app. Your own app's data source file plays this part for the
 * `nestjs-api-key` bin.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { connectionOptions } from './config.js';
import { sampleApiKeyOptions, sampleDataSourceOptions } from './database.js';

export default new DataSource(sampleDataSourceOptions(connectionOptions(process.env.DATABASE_URL)));

/** Read by the CLI so that the keys it makes match the app's `ApiKeyModule.forRoot()` options. */
export const apiKeyOptions = sampleApiKeyOptions(process.env.API_KEY_HEADER || undefined);
