import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LIB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib');
const manifest = JSON.parse(readFileSync(join(LIB, '..', 'package.json'), 'utf8')) as {
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
};

/** Source files that ship: everything in lib/ except the specs. */
const shippedFiles = readdirSync(LIB).filter(
  (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'),
);

/** Package names a file imports: `import ... from 'x'`, `import 'x'`, `export ... from 'x'`, `import('x')`. */
function importedPackages(source: string): string[] {
  const specifiers = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map(
    (match) => match[1],
  );
  return specifiers
    .filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('node:'))
    .map((specifier) =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/'),
    );
}

describe('package.json', () => {
  it('finds the library sources', () => {
    expect(shippedFiles).toContain('index.ts');
    expect(shippedFiles).toContain('api-key.service.ts');
  });

  it.each(shippedFiles)('lists every package %s imports as a peer dependency', (file) => {
    const packages = importedPackages(readFileSync(join(LIB, file), 'utf8'));
    for (const name of packages) {
      expect(manifest.peerDependencies, `${file} imports ${name}`).toHaveProperty([name]);
    }
  });

  it('depends on no package the library does not import', () => {
    const imported = new Set(
      shippedFiles.flatMap((file) => importedPackages(readFileSync(join(LIB, file), 'utf8'))),
    );
    // reflect-metadata is loaded by the application, not imported by the library, but decorators need it.
    imported.add('reflect-metadata');
    expect(
      Object.keys(manifest.peerDependencies ?? {}).filter((name) => !imported.has(name)),
    ).toEqual([]);
    expect(manifest.dependencies ?? {}).toEqual({});
  });

  it('is recognised by the import scanner in all its forms', () => {
    expect(
      importedPackages(
        `import a from '@nestjs/common';\nimport 'reflect-metadata';\nexport { b } from "typeorm/x.js";\nconst c = await import('bcrypt');\nimport d from './local.js';\nimport e from 'node:crypto';`,
      ),
    ).toEqual(['@nestjs/common', 'reflect-metadata', 'typeorm', 'bcrypt']);
  });
});
