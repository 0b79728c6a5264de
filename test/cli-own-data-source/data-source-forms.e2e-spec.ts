import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineFailure } from '../support/cli-result.js';
import { lastLine } from '../support/sample-app.js';
import { LIB_URL, cliOn, dataSourceDir, writeDataSource } from './data-source-files.js';

/**
 * The data source files apps actually have: compiled to ESM or CommonJS in the shapes the
 * typeorm CLI accepts, still in TypeScript, without `apiKeyOptions`, or pointing at a database
 * that never answers.
 */
describe('key CLI on the forms of data source file', { timeout: 120_000 }, () => {
  // Made as the tests are collected: the table of forms below names files in it.
  const dir = dataSourceDir();
  const sqlite = (name: string) => JSON.stringify(join(dir, `${name}.sqlite`));
  const esm = (name: string, exports: string) => `import { DataSource } from 'typeorm';
import { ApiKey, CreateApiKeys1764000000000 } from '${LIB_URL}';
const dataSource = new DataSource({
  type: 'better-sqlite3',
  database: ${sqlite(name)},
  entities: [ApiKey],
  migrations: [CreateApiKeys1764000000000],
});
${exports}
`;
  const cjs = (name: string, exports: string) => `"use strict";
const typeorm_1 = require("typeorm");
const lib_1 = require(${JSON.stringify(new URL(LIB_URL).pathname)});
const dataSource = new typeorm_1.DataSource({
  type: "better-sqlite3",
  database: ${sqlite(name)},
  entities: [lib_1.ApiKey],
  migrations: [lib_1.CreateApiKeys1764000000000],
});
${exports}
`;

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['ESM export default', 'esm-default.mjs', esm('a', 'export default dataSource;')],
    ['ESM named export', 'esm-named.js', esm('b', 'export { dataSource };'), 'module'],
    [
      'CommonJS module.exports',
      'cjs-module.js',
      cjs('c', 'module.exports = dataSource;'),
      'commonjs',
    ],
    [
      'CommonJS exports.default (TypeScript export default compiled to CommonJS)',
      'cjs-default.js',
      cjs(
        'd',
        `Object.defineProperty(exports, "__esModule", { value: true });
exports.default = dataSource;
exports.apiKeyOptions = { brand: "cjs_" };`,
      ),
      'commonjs',
    ],
    ['CommonJS named export', 'cjs-named.cjs', cjs('e', 'exports.dataSource = dataSource;')],
  ] as const)('accepts a data source file with a %s', async (_form, name, source, moduleType?) => {
    const file = writeDataSource(dir, name, source, moduleType);
    const created = await cliOn(file, 'create', '--name', 'made', '--json');
    expect(created.code, created.stderr).toBe(0);
    const { key, prefix } = JSON.parse(lastLine(created.stdout));
    // The apiKeyOptions of a CommonJS file count as an ESM file's do.
    expect(key).toMatch(name === 'cjs-default.js' ? /^cjs_[A-Za-z0-9]{8}\./ : /^[A-Za-z0-9]{8}\./);
    const shown = await cliOn(file, 'show', prefix, '--json');
    expect(shown.code, shown.stderr).toBe(0);
  });

  it('answers a TypeScript data source file with one line saying how to run it', async () => {
    const file = writeDataSource(dir, 'data-source.ts', esm('ts', 'export default dataSource;'));
    const result = await cliOn(file, 'list');
    expectOneLineFailure(result);
    expect(result.stderr).toContain('Node cannot run TypeScript here');
    expect(result.stderr).toContain('compile it (tsc)');
    expect(result.stderr).toContain('--data-source dist/data-source.js');
    expect(result.stderr).toContain('NODE_OPTIONS="--import tsx"');
  });

  it('notes once, after the key, when the file exports no apiKeyOptions and keys get the defaults', async () => {
    const file = writeDataSource(dir, 'no-options.mjs', esm('f', 'export default dataSource;'));
    const created = await cliOn(file, 'create', '--name', 'plain', '--json');
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(lastLine(created.stdout)).key).toMatch(/^[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
    expect(created.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(created.stderr).toContain(`note: no apiKeyOptions exported from ${file}`);
    expect(created.stderr).toContain('keys use the defaults (no brand, bcrypt)');

    // Only commands that make keys are concerned, and a failure stays one line.
    const listed = await cliOn(file, 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toBe('');
    expectOneLineFailure(await cliOn(file, 'create', '--name', ''));

    const confirmed = writeDataSource(
      dir,
      'default-options.mjs',
      esm('f', 'export default dataSource;\nexport const apiKeyOptions = {};'),
    );
    const quiet = await cliOn(confirmed, 'create', '--name', 'plain');
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  describe('a database that accepts connections but never answers', () => {
    let server: Server;
    let port: number;
    const sockets = new Set<Socket>();

    beforeAll(async () => {
      server = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server?.close(resolve));
    });

    it.each(['postgres', 'mysql'])(
      'is given up on as %s after --timeout, with one line naming the host',
      async (type) => {
        const file = writeDataSource(
          dir,
          `stalled-${type}.mjs`,
          `import { DataSource } from 'typeorm';
import { ApiKey } from '${LIB_URL}';
export default new DataSource({ type: '${type}', host: '127.0.0.1', port: ${port}, username: 'keys', database: 'keys', entities: [ApiKey] });
export const apiKeyOptions = {};
`,
        );
        const connections = sockets.size;
        const started = Date.now();
        // The deadline also covers loading the data source file, which takes seconds on a busy machine.
        const result = await cliOn(file, '--timeout', '5s', 'list');
        const elapsed = Date.now() - started;
        expectOneLineFailure(result);
        expect(result.stderr).toContain(
          `the database did not answer within 5 s: 127.0.0.1:${port}`,
        );
        expect(sockets.size).toBeGreaterThan(connections);
        // Five seconds of deadline, process start and the forced exit, with room for a busy machine.
        expect(elapsed).toBeLessThan(15_000);
      },
    );
  });
});
