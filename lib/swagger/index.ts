/**
 * nestjs-api-key/swagger: the API keys of a Nest application in its OpenAPI document, read from
 * the guards. Needs `@nestjs/swagger`.
 */
export { createApiKeyDocument, type ApiKeyDocumentOptions } from './api-key-swagger.document.js';
export {
  API_KEY_ALTERNATIVES_EXTENSION,
  API_KEY_SCOPES_EXTENSION,
  type ApiKeyOperation,
  type OperationSchemes,
  type SecurityRequirement,
} from './api-key-swagger.operations.js';
export {
  API_KEY_KEYWORD_EXTENSION,
  apiKeySchemeName,
  apiKeySecurityScheme,
} from './api-key-swagger.schemes.js';
export { apiKeySwaggerUiOptions } from './api-key-swagger.ui.js';
