import type { ApiKey, ApiKeyService } from '../lib/index.js';

/** Scopes of the demo key: enough for every `/projects` route. */
export const DEMO_KEY_SCOPES = ['projects:read', 'projects:write'];

/**
 * Makes the demo key when the database holds no key at all (a first start), and returns its
 * plaintext; `null` when keys exist already, so a restart never adds one.
 */
export async function createDemoKeyIfNone(keys: ApiKeyService<ApiKey>): Promise<string | null> {
  if ((await keys.list()).length > 0) return null;
  const { key } = await keys.create({ name: 'demo', scopes: DEMO_KEY_SCOPES });
  return key;
}

/** The `curl` line that calls `/projects` with `key`, sent the way the app reads keys. */
export function curlLine(baseUrl: string, key: string, apiKeyHeader: string | undefined): string {
  const header = apiKeyHeader ? `${apiKeyHeader}: ${key}` : `Authorization: Api-Key ${key}`;
  return `curl -H "${header}" ${baseUrl}/projects`;
}

/** What a first start prints, once: the key, a ready request, and how to make more keys. */
export function demoKeyBanner(
  baseUrl: string,
  key: string,
  apiKeyHeader: string | undefined,
): string {
  return [
    '',
    'Created a demo API key (scopes: projects:read, projects:write). It is shown this once; only its hash is stored:',
    '',
    `    ${key}`,
    '',
    'Try it:',
    '',
    `    ${curlLine(baseUrl, key, apiKeyHeader)}`,
    '',
    'Make more keys with: npm run keys -- create --name <name> [--scopes projects:read,projects:write] [--expires 30d]',
    'List and revoke them with: npm run keys -- list, npm run keys -- revoke <prefix>',
    '',
  ].join('\n');
}
