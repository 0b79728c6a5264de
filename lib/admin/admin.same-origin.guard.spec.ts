import 'reflect-metadata';
import { ForbiddenException, UnsupportedMediaTypeException } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { describe, expect, it } from 'vitest';
import { resolveAdminOptions } from './admin.options.js';
import { ApiKeyAdminSameOriginGuard } from './admin.same-origin.guard.js';

const guard = new ApiKeyAdminSameOriginGuard(
  resolveAdminOptions({
    path: 'admin/keys',
    guard: { canActivate: () => true },
    allowedOrigins: ['https://console.example.com/some/path'],
  }),
);

const PROOF = { 'x-requested-with': 'XMLHttpRequest' };

/** Runs the guard on a request the framework reports as made over `protocol`. */
function check(
  method: string,
  headers: Record<string, string | undefined>,
  protocol = 'https',
): boolean {
  const context = new ExecutionContextHost([{ method, headers, protocol }, {}, () => undefined]);
  context.setType('http');
  return guard.canActivate(context);
}

describe('ApiKeyAdminSameOriginGuard', () => {
  it('lets reads through without any proof', () => {
    for (const method of ['GET', 'head', 'OPTIONS']) expect(check(method, {})).toBe(true);
  });

  it('refuses a change without the header, or with another value', () => {
    for (const method of ['POST', 'PATCH', 'DELETE', 'put']) {
      expect(() => check(method, {})).toThrow(ForbiddenException);
      expect(() => check(method, { 'x-requested-with': 'fetch' })).toThrow(/x-requested-with/);
    }
  });

  it('lets a non-browser client through with the header alone', () => {
    expect(check('POST', PROOF)).toBe(true);
  });

  it('refuses a browser request from another site, even with the header', () => {
    for (const site of ['cross-site', 'same-site', 'none'])
      expect(() => check('POST', { ...PROOF, 'sec-fetch-site': site })).toThrow(
        `it came from a ${site} page`,
      );
    expect(check('POST', { ...PROOF, 'sec-fetch-site': 'same-origin' })).toBe(true);
  });

  it("takes an Origin of the request's own host or an allowed origin, and refuses others", () => {
    const host = 'keys.example.com:8443';
    expect(check('POST', { ...PROOF, host, origin: 'https://keys.example.com:8443' })).toBe(true);
    expect(
      check('POST', {
        ...PROOF,
        host: 'KEYS.example.com:8443',
        origin: 'https://keys.example.com:8443',
      }),
    ).toBe(true);
    expect(check('POST', { ...PROOF, host, origin: 'https://console.example.com' })).toBe(true);
    for (const origin of [
      'https://keys.example.com',
      'https://evil.example.com',
      'https://console.example.com:444',
      'null',
      'not a url',
    ])
      expect(() => check('POST', { ...PROOF, host, origin }), origin).toThrow(
        'its Origin is not this site',
      );
    expect(() => check('POST', { ...PROOF, origin: 'https://keys.example.com' })).toThrow(
      ForbiddenException,
    );
  });

  it("compares the Origin's scheme and port too, by the protocol the framework reports", () => {
    const host = '127.0.0.1:3101';
    expect(check('POST', { ...PROOF, host, origin: 'http://127.0.0.1:3101' }, 'http')).toBe(true);
    for (const origin of [
      'https://127.0.0.1:3101',
      'http://127.0.0.1:3102',
      'http://127.0.0.1',
      'ws://127.0.0.1:3101',
    ])
      expect(() => check('POST', { ...PROOF, host, origin }, 'http'), origin).toThrow(
        'its Origin is not this site',
      );
    // Behind a trusted proxy the framework reports https: the https page's Origin is its own.
    expect(check('POST', { ...PROOF, host, origin: 'https://127.0.0.1:3101' }, 'https')).toBe(true);
    expect(() =>
      check('POST', { ...PROOF, host, origin: 'http://127.0.0.1:3101' }, 'https'),
    ).toThrow('its Origin is not this site');
    // A default port in Host is the origin without one, as browsers write it.
    expect(
      check('POST', { ...PROOF, host: 'keys.example.com:443', origin: 'https://keys.example.com' }),
    ).toBe(true);
  });

  it('takes JSON bodies only', () => {
    expect(check('POST', { ...PROOF, 'content-type': 'application/json' })).toBe(true);
    expect(check('POST', { ...PROOF, 'content-type': 'Application/JSON; charset=utf-8' })).toBe(
      true,
    );
    for (const type of [
      'application/x-www-form-urlencoded',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/jsonp',
    ])
      expect(() => check('POST', { ...PROOF, 'content-type': type }), type).toThrow(
        UnsupportedMediaTypeException,
      );
  });
});
