import { describe, expect, it } from 'vitest';
import {
  API_KEY_KEYWORD_EXTENSION,
  apiKeySchemeName,
  apiKeySecurityScheme,
} from './api-key-swagger.schemes.js';

describe('apiKeySchemeName', () => {
  it('names the default registration api-key, a named one api-key-<name>', () => {
    expect(apiKeySchemeName()).toBe('api-key');
    expect(apiKeySchemeName('default')).toBe('api-key');
    expect(apiKeySchemeName('partners')).toBe('api-key-partners');
    expect(apiKeySchemeName('v2.partner_keys-x')).toBe('api-key-v2.partner_keys-x');
  });

  it('replaces what a component name cannot hold', () => {
    expect(apiKeySchemeName('partner keys/ü')).toBe('api-key-partner_keys__');
    expect(apiKeySchemeName('partner keys/ü')).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});

describe('apiKeySecurityScheme', () => {
  it('reads a custom header raw, with no keyword', () => {
    const scheme = apiKeySecurityScheme({
      name: 'default',
      header: 'X-Api-Key',
      keyword: 'Api-Key',
    });
    expect(scheme).toEqual({
      type: 'apiKey',
      in: 'header',
      name: 'X-Api-Key',
      description: 'An API key, sent raw in the `X-Api-Key` header.',
    });
    expect(scheme).not.toHaveProperty(API_KEY_KEYWORD_EXTENSION);
  });

  it('reads Authorization with the keyword in the description and the extension', () => {
    const scheme = apiKeySecurityScheme({ name: 'default', header: null, keyword: 'Token' });
    expect(scheme).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      [API_KEY_KEYWORD_EXTENSION]: 'Token',
    });
    expect(scheme.description).toContain('`Authorization: Token <key>`');
  });

  it('names a named registration in the description', () => {
    const scheme = apiKeySecurityScheme({ name: 'partners', header: null, keyword: 'Api-Key' });
    expect(scheme.description).toMatch(/^An API key of "partners", sent as/);
  });
});
