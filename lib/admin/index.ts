/**
 * nestjs-api-key/admin: a page and a JSON management API for API keys, an owner-scoped
 * self-service mode, and audit events.
 */
export { ApiKeyAdminBadRequest } from './admin.errors.js';
export { API_KEY_ADMIN_CSP } from './admin.headers.interceptor.js';
export { ApiKeyAdminModule } from './admin.module.js';
export {
  API_KEY_ADMIN_EVENTS,
  ApiKeyAdminConfigurationError,
  type ApiKeyAdminEvent,
  type ApiKeyAdminEventType,
  type ApiKeyAdminOptions,
  type ApiKeyOwnerPolicy,
  type ApiKeyOwnerResolver,
} from './admin.options.js';
export { ApiKeyAdminPolicyRefusal } from './admin.policy.js';
export type { ApiKeyStatusFilter } from './admin.query.js';
export type { ApiKeyAdminUsage } from './admin.usage.js';
export {
  API_KEY_ADMIN_REQUEST_HEADER,
  API_KEY_ADMIN_REQUEST_VALUE,
  ApiKeyAdminSameOriginGuard,
} from './admin.same-origin.guard.js';
export type { ApiKeyAdminView, ApiKeyList } from './admin.view.js';
