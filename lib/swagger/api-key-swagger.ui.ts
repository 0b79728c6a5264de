import type { SwaggerCustomOptions } from '@nestjs/swagger';

/**
 * Swagger UI request interceptor: puts a scheme's keyword before a key pasted alone into an
 * `Authorization` scheme that carries `x-api-key-keyword`. Swagger UI runs it in the browser
 * from its source text, so it reads the schemes from the loaded document and uses nothing from
 * this module. A value with a space already has a keyword and is sent as typed.
 */
function addApiKeyKeyword(request: { headers: Record<string, unknown> }) {
  const ui = (globalThis as { ui?: { specSelectors: { specJson(): { toJS(): any } } } }).ui;
  const schemes: Record<string, any> =
    ui?.specSelectors.specJson().toJS()?.components?.securitySchemes ?? {};
  for (const scheme of Object.values(schemes)) {
    const keyword = scheme?.['x-api-key-keyword'];
    if (typeof keyword !== 'string' || scheme.in !== 'header') continue;
    for (const name of Object.keys(request.headers)) {
      const value = request.headers[name];
      if (name.toLowerCase() !== String(scheme.name).toLowerCase()) continue;
      if (typeof value === 'string' && value !== '' && !value.includes(' ')) {
        request.headers[name] = `${keyword} ${value}`;
      }
    }
  }
  return request;
}

/**
 * Options for `SwaggerModule.setup()` with which "Try it out" sends a key the way the guard reads
 * it: a key pasted alone into an `Authorization` scheme gets its keyword (`Api-Key <key>`).
 * Custom-header schemes need nothing and work without it. Your own `swaggerOptions` are kept; a
 * `requestInterceptor` of yours replaces this one.
 *
 * @example
 * ```ts
 * SwaggerModule.setup('docs', app, document, apiKeySwaggerUiOptions({ jsonDocumentUrl: 'docs-json' }));
 * ```
 * @publicApi
 */
export function apiKeySwaggerUiOptions(options: SwaggerCustomOptions = {}): SwaggerCustomOptions {
  return {
    ...options,
    swaggerOptions: { requestInterceptor: addApiKeyKeyword, ...options.swaggerOptions },
  };
}
