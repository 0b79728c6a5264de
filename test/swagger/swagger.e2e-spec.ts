import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../lib/index.js';
import { apiKeySwaggerUiOptions, createApiKeyDocument } from '../../lib/swagger/index.js';
import { launchBrowser } from '../support/browser.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { UserSessionGuard } from '../support/partner-keys.js';
import { SwaggerAppModule } from './swagger.app.js';

/** Launched by the one test that needs it, so a run without Chromium leaves out that test alone. */
let browser: Promise<Browser> | undefined;
afterAll(async () => (await browser)?.close());

describe.each(ADAPTERS)('OpenAPI document from the guards on %s', (platform, adapter) => {
  let app: INestApplication;
  let url: string;
  let stop: () => Promise<void>;
  let document: OpenAPIObject;

  const operation = (path: string, method = 'get') =>
    (document.paths[path] as Record<string, any>)[method];

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase(
      'sqlite',
      adapter,
      (database) => SwaggerAppModule.register(database),
      {
        beforeListen: (booted) => {
          const config = new DocumentBuilder().setTitle('Scenario').addBearerAuth().build();
          document = createApiKeyDocument(booted, config, {
            alternativeSchemes: new Map([[UserSessionGuard, 'bearer']]),
          });
          SwaggerModule.setup('docs', booted, document, apiKeySwaggerUiOptions());
        },
      },
    ));
  });
  afterAll(() => stop?.());

  it('registers one scheme per registration, as each reads its keys', () => {
    expect(document.components?.securitySchemes).toMatchObject({
      'api-key': {
        type: 'apiKey',
        in: 'header',
        name: 'Authorization',
        'x-api-key-keyword': 'Api-Key',
      },
      'api-key-partner': { type: 'apiKey', in: 'header', name: 'x-partner-key' },
    });
  });

  it('marks every route a key guard checks, and only those', () => {
    expect(operation('/items').security).toEqual([{ 'api-key': [] }]);
    expect(operation('/partner').security).toEqual([{ 'api-key-partner': [] }]);
    expect(operation('/items/both').security).toEqual([{ 'api-key': [], 'api-key-partner': [] }]);
    expect(operation('/health').security).toBeUndefined();
    expect(operation('/health').responses).not.toHaveProperty('401');
  });

  it('lists the @AllowApiKeyOr() alternatives as alternative requirements', () => {
    expect(operation('/items/any-key').security).toEqual([
      { 'api-key': [] },
      { 'api-key-partner': [] },
    ]);
    expect(operation('/items/or-session').security).toEqual([{ 'api-key': [] }, { bearer: [] }]);
  });

  it('shows required scopes and the guard answers', () => {
    const create = operation('/items', 'post');
    expect(create['x-api-key-scopes']).toEqual(['items:write']);
    expect(create.responses['403'].description).toContain('items:write');
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['401', '403', '503']));
    // Without scopes, a 403 can only be the key's IP allow-list.
    expect(operation('/items').responses['403'].description).not.toContain('scope');
  });

  it('leaves the handlers as they were, so a second document is the same', () => {
    const again = createApiKeyDocument(app, new DocumentBuilder().addBearerAuth().build(), {
      alternativeSchemes: new Map([[UserSessionGuard, 'bearer']]),
    });
    expect(again.paths).toEqual(document.paths);
    const plain = SwaggerModule.createDocument(app, new DocumentBuilder().build());
    expect(plain.paths['/items'].get?.security).toBeUndefined();
  });

  it('serves the document', async () => {
    const served = await call(`${url}/docs-json`);
    expect(served.status).toBe(200);
    expect(served.body.paths['/items'].get.security).toEqual([{ 'api-key': [] }]);
  });

  it('validates against the OpenAPI schema', async () => {
    const result = await new Validator().validate(JSON.parse(JSON.stringify(document)));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it('sends a key pasted alone from "Try it out" in Swagger UI (Chromium), and gets 200', async () => {
    const { key } = await app.get(ApiKeyService).create({ name: 'browser' });
    browser ??= launchBrowser();
    const page = await (await browser).newPage();
    try {
      await page.goto(`${url}/docs`);
      await page.locator('button.btn.authorize').click();
      const scheme = page
        .locator('.modal-ux .auth-container')
        .filter({ has: page.locator('h4', { hasText: /^api-key(?!-)/ }) });
      await scheme.locator('input').fill(key);
      await scheme.locator('button.authorize').click();
      await page.locator('.modal-ux button.btn-done').first().click();
      const block = page.locator('#operations-Items-ItemsController_list');
      await block.locator('.opblock-summary-control').click();
      await block.locator('button.try-out__btn').click();
      const answer = page.waitForResponse((response) => response.url() === `${url}/items`);
      await block.locator('button.execute').click();
      expect((await answer).status()).toBe(200);
      expect(await (await answer).json()).toEqual({ key: 'browser' });
    } finally {
      await page.close();
    }
    expect((await call(`${url}/items`)).status).toBe(401);
  }, 60_000);
});
