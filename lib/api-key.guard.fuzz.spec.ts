import 'reflect-metadata';
import { Logger, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialArb, FUZZ_SEED, fuzzRuns, requestArb } from '../test/fuzz/arbitraries.js';
import { storeFixedKey } from '../test/fuzz/fixed-key.js';
import { openKeyStore, type KeyStore } from '../test/support/key-store.js';
import { ApiKey } from './api-key.entity.js';
import type { ApiKeyFailureReason, ApiKeyOptions } from './index.js';
import { ApiKeyUnauthorizedException } from './api-key.exceptions.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { readPresentedKey } from './request/context.js';

class OpenController {
  anything() {}
}

/**
 * The stock guard with its `extractKey` hook reachable from the test, counting why requests
 * were refused, so a run can show that its near misses reached the lookup and the hash.
 */
class ProbedApiKeyGuard extends ApiKeyGuard {
  readonly refusals = new Map<ApiKeyFailureReason | 'missing', number>();

  readKey(request: unknown, context: ExecutionContext): string | null {
    return this.extractKey(request, context);
  }

  protected override denyUnauthorized(
    context: ExecutionContext,
    reason: ApiKeyFailureReason | 'missing',
  ): boolean {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
    return super.denyUnauthorized(context, reason);
  }
}

/** An HTTP context around any request, with a response that records the headers set on it. */
function httpContext(request: unknown) {
  const headers: Record<string, string> = {};
  const response = { header: (name: string, value: string) => (headers[name] = value) };
  const context = new ExecutionContextHost(
    [request, response, () => undefined],
    OpenController,
    OpenController.prototype.anything,
  );
  context.setType('http');
  return { context, headers };
}

/** The ways a registration reads keys: keyword or custom header, with and without a brand. */
const CONFIGURATIONS: Array<[string, ApiKeyOptions, string]> = [
  ['Authorization: Api-Key', {}, 'Api-Key realm="api"'],
  [
    'Authorization: Bearer, branded',
    { keyword: 'Bearer', brand: 'sk_live_' },
    'Bearer realm="api"',
  ],
  ['X-Api-Key', { header: 'X-Api-Key' }, 'Api-Key realm="api", header="x-api-key"'],
  [
    'X-Api-Key, branded, own keyword',
    { header: 'X-Api-Key', keyword: 'Token', brand: 'pk-' },
    'Token realm="api", header="x-api-key"',
  ],
];

/**
 * Whatever a request holds, the guard reads it without throwing and either lets it in, when it
 * carries the one stored key exactly where configured, or answers with the generic 401.
 */
describe.each(CONFIGURATIONS)(
  'ApiKeyGuard under fuzzing, keys in %s',
  (_label, options, challenge) => {
    let store: KeyStore;
    let guard: ProbedApiKeyGuard;
    let header: string | null;
    let keyword: string;
    let validKey: string;

    beforeAll(async () => {
      Logger.overrideLogger(false);
      store = await openKeyStore('sqlite');
      const service = store.service(options);
      guard = new ProbedApiKeyGuard(service, new Reflector());
      ({ header, keyword } = service.options);
      validKey = await storeFixedKey(service, store.dataSource.getRepository(ApiKey));
    });
    afterAll(async () => {
      await store?.close();
    });

    /** Runs a request through the guard: `true` when it passed, or what it threw. */
    async function attempt(request: unknown) {
      const { context, headers } = httpContext(request);
      const presented = guard.readKey(request, context);
      const outcome = await guard.canActivate(context).catch((error: unknown) => error);
      return { presented, outcome, headers };
    }

    function expectRefused(outcome: unknown, headers: Record<string, string>): void {
      expect(outcome).toBeInstanceOf(ApiKeyUnauthorizedException);
      expect(headers).toEqual({ 'WWW-Authenticate': challenge });
    }

    it('never throws anything but the 401, and lets in only the stored key', async () => {
      await fc.assert(
        fc.asyncProperty(requestArb(header, keyword, validKey), async (request) => {
          const { presented, outcome, headers } = await attempt(request);
          expect(presented).toBe(readPresentedKey(request, header, keyword));
          if (presented === validKey) expect(outcome).toBe(true);
          else expectRefused(outcome, headers);
        }),
        { seed: FUZZ_SEED, numRuns: fuzzRuns(300) },
      );
    });

    it('refuses every near miss of the stored key presented where keys are read', async () => {
      guard.refusals.clear();
      const presentedArb = fc.tuple(fc.mixedCase(fc.constant(keyword)), credentialArb(validKey));
      await fc.assert(
        fc.asyncProperty(presentedArb, async ([scheme, credential]) => {
          const request = {
            headers: header
              ? { [header]: credential }
              : { authorization: `${scheme} ${credential}` },
          };
          const { outcome, headers } = await attempt(request);
          if (credential === validKey) expect(outcome).toBe(true);
          else expectRefused(outcome, headers);
        }),
        { seed: FUZZ_SEED, numRuns: fuzzRuns(300) },
      );
      // The near misses got as far as the lookup and the hash, not only the format check.
      expect(guard.refusals.get('unknown')).toBeGreaterThan(0);
      expect(guard.refusals.get('bad_secret')).toBeGreaterThan(0);
    });
  },
);
