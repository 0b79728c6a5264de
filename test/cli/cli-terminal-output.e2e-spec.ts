import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineFailure } from '../support/cli-result.js';
import {
  createSampleDatabase,
  lastLine,
  runCli,
  type SampleDatabase,
} from '../support/sample-app.js';

/** What a terminal would act on: ESC and CSI (C0, C1), and bidirectional overrides and isolates. */
// eslint-disable-next-line no-control-regex -- control characters are what must not be printed
const TERMINAL_CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/**
 * A name that would recolour a terminal, clear it, or reverse what follows, if printed raw.
 * Bidi override (U+202E), isolate (U+2066), CSI (U+009B) and ESC sequences.
 */
const HOSTILE_NAME = 'pay\u202eroll\u2066 x\u009b2J \u001b[31mred\u001b[0m';

// The escaping does not depend on the database: SQLite alone keeps this quick.
describe('key CLI terminal output', { timeout: 120_000 }, () => {
  let db: SampleDatabase;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);
  let prefix: string;

  beforeAll(async () => {
    db = await createSampleDatabase('sqlite');
    env = { DATABASE_URL: db.url };
    const created = await cli('create', '--name', HOSTILE_NAME, '--json');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).not.toMatch(TERMINAL_CONTROLS);
    const parsed = JSON.parse(lastLine(created.stdout));
    expect(parsed.name).toBe(HOSTILE_NAME);
    prefix = parsed.prefix;
  });
  afterAll(() => db?.drop());

  it('escapes controls in every human output: create, list and show', async () => {
    const outputs = [
      await cli('create', '--name', HOSTILE_NAME),
      await cli('list'),
      await cli('show', prefix),
      await cli('revoke', prefix),
    ];
    for (const { code, stdout, stderr } of outputs) {
      expect(code, stderr).toBe(0);
      expect(stdout).not.toMatch(TERMINAL_CONTROLS);
      expect(stdout).toContain('pay\\u202eroll\\u2066 x\\x9b2J \\x1b[31mred\\x1b[0m');
    }
  });

  it('\\u-escapes them in JSON output, which still parses to the name', async () => {
    for (const args of [
      ['list', '--all', '--json'],
      ['show', prefix, '--json'],
    ]) {
      const { code, stdout, stderr } = await cli(...args);
      expect(code, stderr).toBe(0);
      expect(stdout).not.toMatch(TERMINAL_CONTROLS);
      expect(stdout).toContain('pay\\u202eroll\\u2066 x\\u009b2J \\u001b[31mred\\u001b[0m');
      const parsed = [JSON.parse(lastLine(stdout))].flat() as { name: string }[];
      expect(parsed.map((key) => key.name)).toContain(HOSTILE_NAME);
    }
  });

  it('escapes the arguments error lines echo', async () => {
    for (const args of [
      ['show', '\u001b[2J\u001b]0;pwned\u0007'],
      ['list', '--\u001b[31mall'],
      ['create', '--name', 'x', '--expires', '\u009b31m\u202e'],
    ]) {
      const result = await cli(...args);
      expectOneLineFailure(result);
      expect(result.stderr).not.toMatch(TERMINAL_CONTROLS);
      expect(result.stderr).toMatch(/\\x1b|\\x9b/);
    }
  });
});
