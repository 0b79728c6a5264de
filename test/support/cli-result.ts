import { expect } from 'vitest';
import type { CliResult } from './sample-app.js';

/** A failure as the CLI must report it: exit code not 0, one line on stderr, no stack trace, nothing on stdout. */
export function expectOneLineFailure(result: CliResult): void {
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.code).not.toBeNull();
  expect(result.stderr.endsWith('\n')).toBe(true);
  expect(result.stderr.trimEnd().split('\n'), result.stderr).toHaveLength(1);
  expect(result.stderr).toMatch(/^nestjs-api-key: \S/);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stdout).toBe('');
}
