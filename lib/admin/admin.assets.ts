import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiKeyAdminConfigurationError } from './admin.options.js';

/** The files the page loads, by name under `assets/`, with their content types. */
export const ADMIN_ASSET_TYPES: Readonly<Record<string, string>> = {
  'admin.js': 'text/javascript; charset=utf-8',
  'admin-shared.js': 'text/javascript; charset=utf-8',
  'admin-dialogs.js': 'text/javascript; charset=utf-8',
  'admin-usage.js': 'text/javascript; charset=utf-8',
  'admin.css': 'text/css; charset=utf-8',
};

/** The page's files, read once at boot from `assets/` beside this module. */
export interface AdminAssets {
  /** The page, with `__BASE__` where its own path goes. */
  html: string;
  /** Its scripts and stylesheet, by file name (those of `ADMIN_ASSET_TYPES`). */
  files: ReadonlyMap<string, string>;
}

let loaded: AdminAssets | undefined;

/**
 * The page's files: shipped in the package, served by the module, no CDN and no build step.
 *
 * @throws {ApiKeyAdminConfigurationError} naming the fix when the files are not beside the module
 */
export function adminAssets(): AdminAssets {
  if (loaded) return loaded;
  const directory = new URL('./assets/', import.meta.url);
  const read = (file: string) => readFileSync(new URL(file, directory), 'utf8');
  try {
    loaded = {
      html: read('admin.html'),
      files: new Map(Object.keys(ADMIN_ASSET_TYPES).map((file) => [file, read(file)])),
    };
  } catch (error) {
    throw new ApiKeyAdminConfigurationError(
      'path',
      `the page's files are missing from ${fileURLToPath(directory)} (${(error as Error).message}).`,
      'reinstall nestjs-api-key; when compiling its sources yourself, copy lib/admin/assets beside the compiled admin module.',
    );
  }
  return loaded;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** The page for the path it was requested at (params and all), escaped for an attribute. */
export function pageAt(requestPath: string): string {
  const base = requestPath.split('?')[0].replace(/\/+$/, '');
  return adminAssets().html.replaceAll(
    '__BASE__',
    base.replace(/[&<>"']/g, (c) => ESCAPES[c]),
  );
}
