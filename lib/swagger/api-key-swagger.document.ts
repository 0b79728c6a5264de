import type { INestApplication } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { ApplicationConfig, ModulesContainer, Reflector } from '@nestjs/core';
import {
  DECORATORS,
  SwaggerModule,
  type OpenAPIObject,
  type SwaggerDocumentOptions,
} from '@nestjs/swagger';
import { getApiKeyOptionsToken } from '../api-key.constants.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';
import { keyGuardsOnRoute } from '../boot-checks/route-checks.js';
import { globalKeyGuards, scanRoutes } from '../boot-checks/route-scanner.js';
import {
  describeOperation,
  type ApiKeyOperation,
  type OperationSchemes,
} from './api-key-swagger.operations.js';
import { apiKeySchemeName, apiKeySecurityScheme } from './api-key-swagger.schemes.js';

/** Options of `createApiKeyDocument`: those of `SwaggerModule.createDocument`, and one more. */
export interface ApiKeyDocumentOptions extends SwaggerDocumentOptions {
  /** See `OperationSchemes.alternativeSchemes`. */
  alternativeSchemes?: ReadonlyMap<Function, string>;
}

/** The swagger metadata a route's operation is built from, replaced while the document is made. */
const OPERATION_METADATA = [
  DECORATORS.API_SECURITY,
  DECORATORS.API_RESPONSE,
  DECORATORS.API_EXTENSION,
] as const;

/**
 * `SwaggerModule.createDocument()` with the API keys filled in: one security scheme per key
 * registration the routes use (its header, or `Authorization` with its keyword), and on every
 * route an API key guard protects, the security requirement (`@AllowApiKeyOr()` alternatives
 * listed as alternatives), the scopes it requires (`x-api-key-scopes`, and in the requirement
 * under OpenAPI 3.1), and its 401, 403 and 503 responses. Routes are read as the guards read them:
 * `@UseGuards()`, global guards, `@SkipApiKey()`, named registrations. Nothing of yours is
 * replaced: your own `@ApiSecurity()`, `@ApiResponse()` and `@ApiExtension()` are kept.
 *
 * @example
 * ```ts
 * const document = createApiKeyDocument(app, new DocumentBuilder().setTitle('Shop').build());
 * SwaggerModule.setup('docs', app, document, apiKeySwaggerUiOptions());
 * ```
 * @throws {ApiKeyConfigurationError} when a registration a route uses is not in the application
 * @publicApi
 */
export function createApiKeyDocument(
  app: INestApplication,
  config: Omit<OpenAPIObject, 'paths'>,
  options: ApiKeyDocumentOptions = {},
): OpenAPIObject {
  const { alternativeSchemes, ...swaggerOptions } = options;
  const schemes: OperationSchemes = {
    alternativeSchemes,
    scopesInRequirements: !config.openapi.startsWith('3.0'),
  };
  const operations = describeRoutes(app, schemes);
  const restore = applyOperations(operations);
  let document: OpenAPIObject;
  try {
    document = SwaggerModule.createDocument(app, config, swaggerOptions);
  } finally {
    restore();
  }
  const registrations = new Set([...operations.values()].flatMap((op) => op.registrations));
  document.components ??= {};
  document.components.securitySchemes ??= {};
  for (const registration of registrations) {
    document.components.securitySchemes[apiKeySchemeName(registration)] = apiKeySecurityScheme(
      registrationOptions(app, registration),
    );
  }
  return document;
}

/** What the document says of each HTTP route handler a key guard checks. */
function describeRoutes(
  app: INestApplication,
  schemes: OperationSchemes,
): Map<Function, ApiKeyOperation> {
  const reflector = app.get(Reflector);
  const globals = globalKeyGuards(app.get(ApplicationConfig));
  const operations = new Map<Function, ApiKeyOperation>();
  for (const route of scanRoutes(app.get(ModulesContainer))) {
    if (!Reflect.hasMetadata(PATH_METADATA, route.handler)) continue;
    const operation = describeOperation(keyGuardsOnRoute(route, globals, reflector), schemes);
    // A handler inherited by several controllers is one function: the first class describes it.
    if (operation && !operations.has(route.handler)) operations.set(route.handler, operation);
  }
  return operations;
}

/**
 * Adds each operation's security, responses and extensions to its handler's swagger metadata,
 * after what the handler declares itself, and returns how to put the metadata back as it was.
 */
function applyOperations(operations: Map<Function, ApiKeyOperation>): () => void {
  const saved: Array<[Function, string, unknown]> = [];
  for (const [handler, operation] of operations) {
    const own = (key: string) => Reflect.getMetadata(key, handler);
    const values: Record<(typeof OPERATION_METADATA)[number], unknown> = {
      [DECORATORS.API_SECURITY]: [...(own(DECORATORS.API_SECURITY) ?? []), ...operation.security],
      [DECORATORS.API_RESPONSE]: { ...operation.responses, ...own(DECORATORS.API_RESPONSE) },
      [DECORATORS.API_EXTENSION]: { ...operation.extensions, ...own(DECORATORS.API_EXTENSION) },
    };
    for (const key of OPERATION_METADATA) {
      saved.push([handler, key, own(key)]);
      Reflect.defineMetadata(key, values[key], handler);
    }
  }
  return () => {
    for (const [handler, key, value] of saved) {
      if (value === undefined) Reflect.deleteMetadata(key, handler);
      else Reflect.defineMetadata(key, value, handler);
    }
  };
}

/**
 * The resolved options of a registration, for its security scheme.
 *
 * @throws {ApiKeyConfigurationError} when the application has no such registration
 */
function registrationOptions(app: INestApplication, registration: string): ResolvedApiKeyOptions {
  try {
    return app.get<string, ResolvedApiKeyOptions>(getApiKeyOptionsToken(registration), {
      strict: false,
    });
  } catch {
    throw new ApiKeyConfigurationError(
      'createApiKeyDocument()',
      `a route is protected by the API key guard of registration "${registration}", but the application has no such registration.`,
      `import ApiKeyModule.forRoot({ name: '${registration}' }) in the application before creating the document.`,
    );
  }
}
