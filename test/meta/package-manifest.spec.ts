import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const LIB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib');
const manifest = JSON.parse(readFileSync(join(LIB, '..', 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dependencies?: Record<string, string>;
};

/** Source files that ship: everything in lib/ and its folders except the specs, as paths under lib/. */
const shippedFiles = readdirSync(LIB, { recursive: true, encoding: 'utf8' })
  .map((file) => file.split(sep).join('/'))
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'));

/**
 * Optional integrations: each folder of lib/ with an `index.ts` is one, published as
 * `nestjs-api-key/<folder>`. The other folders are the core's, reached through `lib/index.ts`.
 */
const integrations = readdirSync(LIB, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(LIB, entry.name, 'index.ts')))
  .map((entry) => entry.name);

/** The integration a path under lib/ belongs to, or `null` for the core's. */
const integrationOf = (file: string): string | null =>
  integrations.find((name) => file.startsWith(`${name}/`)) ?? null;

/** The core: every file outside the integrations, loaded by `import 'nestjs-api-key'`. */
const coreFiles = shippedFiles.filter((file) => integrationOf(file) === null);

/** The path under lib/ a relative specifier of `file` names. */
const resolved = (file: string, specifier: string): string =>
  posix.normalize(posix.join(posix.dirname(file), specifier));

const optionalPeers = Object.keys(manifest.peerDependencies ?? {}).filter(
  (name) => manifest.peerDependenciesMeta?.[name]?.optional,
);

/**
 * How a file loads a module: `static` (loaded with the file), `type` (erased by the compiler),
 * or `lazy` (`import()` or a `require` call, loaded when the code runs).
 */
type ImportKind = 'static' | 'type' | 'lazy';

const parsed = new Map<string, { specifier: string; kind: ImportKind }[]>();

/** Every module specifier in `source`, with how it is loaded, in source order. */
function importsOf(source: string): { specifier: string; kind: ImportKind }[] {
  const known = parsed.get(source);
  if (known) return known;
  const found: { specifier: string; kind: ImportKind }[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const typeOnly = ts.isImportDeclaration(node)
        ? node.importClause?.isTypeOnly === true
        : node.isTypeOnly;
      found.push({ specifier: node.moduleSpecifier.text, kind: typeOnly ? 'type' : 'static' });
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal)) {
        found.push({ specifier: argument.literal.text, kind: 'type' });
      }
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && /require/i.test(node.expression.text))) &&
      node.arguments.length > 0 &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, kind: 'lazy' });
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile('source.ts', source, ts.ScriptTarget.Latest, true));
  parsed.set(source, found);
  return found;
}

/** The package a specifier names, or undefined for a relative path or a Node built-in. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:')) return undefined;
  return specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
}

/** Package names a file imports: `import ... from 'x'`, `import 'x'`, `export ... from 'x'`, `import('x')`. */
function importedPackages(source: string, kinds?: ImportKind[]): string[] {
  return importsOf(source)
    .filter(({ kind }) => !kinds || kinds.includes(kind))
    .flatMap(({ specifier }) => packageOf(specifier) ?? []);
}

function read(file: string): string {
  return readFileSync(join(LIB, file), 'utf8');
}

/** The shipped files that import a package, each with the packages it imports. */
const packageImporters = shippedFiles
  .map((file) => [file, importedPackages(read(file))] as const)
  .filter(([, packages]) => packages.length > 0);

describe('package.json', () => {
  it('finds the library sources, and the ones among them that import packages', () => {
    expect(shippedFiles).toContain('index.ts');
    expect(shippedFiles).toContain('api-key.service.ts');
    const importers = packageImporters.map(([file]) => file);
    expect(importers).toContain('api-key.service.ts');
    // Imports only its neighbours: no case of its own below.
    expect(importers).not.toContain('index.ts');
  });

  // One case per file that imports a package; a file that imports none has nothing to list.
  it.each(packageImporters)(
    'lists every package %s imports as a peer dependency',
    (file, packages) => {
      const unlisted = packages.filter(
        (name) => !Object.hasOwn(manifest.peerDependencies ?? {}, name),
      );
      expect(unlisted, `${file} imports packages package.json does not list`).toEqual([]);
    },
  );

  it('depends on no package the library does not import', () => {
    const imported = new Set(shippedFiles.flatMap((file) => importedPackages(read(file))));
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
    expect(
      importsOf(
        `import type { A } from 'a';\nexport type { B } from 'b';\ntype C = typeof import('c');\nimport { type D } from 'd';\nconst e = requireFromLibrary('e');\nconst f = require('f/g');`,
      ),
    ).toEqual([
      { specifier: 'a', kind: 'type' },
      { specifier: 'b', kind: 'type' },
      { specifier: 'c', kind: 'type' },
      { specifier: 'd', kind: 'static' },
      { specifier: 'e', kind: 'lazy' },
      { specifier: 'f/g', kind: 'lazy' },
    ]);
  });
});

describe('entry points', () => {
  /** The export of an integration folder: its built index, with its declarations. */
  const integrationExport = (name: string) => ({
    types: `./dist/${name}/index.d.ts`,
    import: `./dist/${name}/index.js`,
    default: `./dist/${name}/index.js`,
  });

  it('exports the core as the package root', () => {
    expect(manifest.exports['.']).toEqual({
      types: './dist/index.d.ts',
      import: './dist/index.js',
      default: './dist/index.js',
    });
  });

  it('exports each integration folder of lib/ as a subpath, and nothing else', () => {
    expect(Object.keys(manifest.exports).sort()).toEqual(
      ['.', './package.json', ...integrations.map((name) => `./${name}`)].sort(),
    );
    for (const name of integrations) {
      expect(existsSync(join(LIB, name, 'index.ts')), `lib/${name}/index.ts`).toBe(true);
      expect(manifest.exports[`./${name}`]).toEqual(integrationExport(name));
    }
  });

  it('keeps the core free of integrations, so their peers are needed only by those who use them', () => {
    for (const file of coreFiles) {
      const intoIntegration = importsOf(read(file)).filter(
        ({ specifier, kind }) =>
          kind !== 'type' &&
          specifier.startsWith('.') &&
          integrationOf(resolved(file, specifier)) !== null,
      );
      expect(intoIntegration, file).toEqual([]);
    }
  });

  it('loads optional peers only lazily in the core', () => {
    expect(optionalPeers).toContain('bcrypt');
    for (const file of coreFiles) {
      const staticPeers = importedPackages(read(file), ['static']);
      expect(
        staticPeers.filter((name) => optionalPeers.includes(name)),
        file,
      ).toEqual([]);
    }
  });

  it('marks optional every peer only an integration imports', () => {
    const core = new Set(coreFiles.flatMap((file) => importedPackages(read(file), ['static'])));
    const integrationOnly = shippedFiles
      .filter((file) => integrationOf(file) !== null)
      .flatMap((file) => importedPackages(read(file), ['static']))
      .filter((name) => !core.has(name));
    expect(integrationOnly.filter((name) => !optionalPeers.includes(name))).toEqual([]);
  });
});
