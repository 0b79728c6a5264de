import { beforeEach, expect } from 'vitest';

/**
 * Setup file of both projects (vitest.config.ts): every test must make at least one assertion,
 * or it fails. A case that passes without checking anything would still count towards the
 * README's test total; this keeps that total honest.
 */
beforeEach(() => {
  expect.hasAssertions();
});
