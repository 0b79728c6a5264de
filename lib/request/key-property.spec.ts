import { describe, expect, it } from 'vitest';
import { putApiKeyOnRequest } from './key-property.js';

const descriptorOf = (holder: object) => Object.getOwnPropertyDescriptor(holder, 'apiKey');

describe('putApiKeyOnRequest', () => {
  it('declares an accessor on a class prototype, giving each request its own key', () => {
    class Request {}
    const first = new Request() as Record<string, unknown>;
    const second = new Request() as Record<string, unknown>;
    putApiKeyOnRequest(first, 'key A');
    putApiKeyOnRequest(second, 'key B');
    expect([first.apiKey, second.apiKey]).toEqual(['key A', 'key B']);
    expect(descriptorOf(Request.prototype)?.get).toBeTypeOf('function');
    expect(Object.keys(first)).toEqual([]);
    expect(new Request()).toHaveProperty('apiKey', undefined);
  });

  it('keeps what the app assigns to request.apiKey, as a property would', () => {
    class Request {}
    const request = new Request() as Record<string, unknown>;
    putApiKeyOnRequest(new Request(), 'declares the accessor');
    request.apiKey = 'set by a middleware';
    expect(request.apiKey).toBe('set by a middleware');
    putApiKeyOnRequest(request, 'verified key');
    expect(request.apiKey).toBe('verified key');
    // Not an own property, so `delete` has nothing to remove (as docs/composition.md says).
    delete request.apiKey;
    expect(request.apiKey).toBe('verified key');
  });

  it('uses the accessor a parent prototype already carries', () => {
    class Request {}
    class ChildRequest extends Request {}
    putApiKeyOnRequest(new Request(), 'declares the accessor');
    const child = new ChildRequest() as Record<string, unknown>;
    putApiKeyOnRequest(child, 'child key');
    expect(child.apiKey).toBe('child key');
    expect(descriptorOf(ChildRequest.prototype)).toBeUndefined();
    expect(descriptorOf(child)).toBeUndefined();
  });

  it('gives plain and null-prototype objects an own property and leaves Object.prototype alone', () => {
    const handshake: Record<string, unknown> = { headers: {} };
    const bare = Object.create(null) as Record<string, unknown>;
    putApiKeyOnRequest(handshake, 'socket key');
    putApiKeyOnRequest(bare, 'bare key');
    expect(descriptorOf(handshake)?.value).toBe('socket key');
    expect(descriptorOf(bare)?.value).toBe('bare key');
    expect(descriptorOf(Object.prototype)).toBeUndefined();
    expect('apiKey' in {}).toBe(false);
  });

  it('leaves a prototype alone where apiKey already exists (a Fastify decorateRequest, say)', () => {
    class Request {}
    Object.defineProperty(Request.prototype, 'apiKey', { value: null, writable: true });
    const request = new Request() as Record<string, unknown>;
    putApiKeyOnRequest(request, 'own key');
    expect(descriptorOf(request)?.value).toBe('own key');
    expect(descriptorOf(Request.prototype)?.value).toBeNull();
  });

  it('overwrites an own apiKey a request got before the accessor existed', () => {
    class Request {}
    const early = new Request() as Record<string, unknown>;
    early.apiKey = 'stale';
    putApiKeyOnRequest(new Request(), 'declares the accessor');
    putApiKeyOnRequest(early, 'fresh');
    expect(early.apiKey).toBe('fresh');
  });

  it('gives requests of a frozen prototype an own property', () => {
    class Request {}
    Object.freeze(Request.prototype);
    const request = new Request() as Record<string, unknown>;
    putApiKeyOnRequest(request, 'key');
    expect(descriptorOf(request)?.value).toBe('key');
  });
});
