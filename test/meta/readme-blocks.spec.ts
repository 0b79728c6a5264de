import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { slug, typescriptBlocks, type Block } from '../support/markdown-blocks.js';

/**
 * Compiles every TypeScript block of the README and of `docs/*.md` against the library's sources,
 * as a reader who copies it into an app would: `nestjs-api-key` is `lib/index.ts`, and the
 * compiler options are the repository's (decorators and all).
 *
 * Each block is a file. A block whose first line is a comment naming a file (`// app.module.ts`)
 * gets that name, others are named after their line. The blocks of one README `##` section are
 * files of one directory, so they may import one another (`./projects.controller.js`); sections
 * do not see each other's files. A page of `docs/` is one example told in steps: all its blocks
 * are one directory. A block that is not meant to compile carries `<!-- readme: not compiled -->`
 * on the line before its fence; there are none, and the test says so, so none slip by.
 */

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DOCS = join(ROOT, 'docs');
/** The documentation pages, as paths from the repository root. */
const DOC_PAGES = readdirSync(DOCS)
  .filter((file) => file.endsWith('.md'))
  .map((file) => `docs/${file}`);

/** The repository's compiler options, with the package name mapped onto the sources. */
function compilerOptions(): ts.CompilerOptions {
  const { config, error } = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const paths = {
    'nestjs-api-key': ['./lib/index.ts'],
    'nestjs-api-key/*': ['./lib/*/index.ts'],
  };
  const json = { ...config, compilerOptions: { ...config.compilerOptions, noEmit: true, paths } };
  const parsed = ts.parseJsonConfigFileContent(json, ts.sys, ROOT);
  if (parsed.errors.length > 0) {
    throw new Error(
      parsed.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'),
    );
  }
  return parsed.options;
}

/** A compiler host that also serves the blocks, as files under `<root>/.readme-blocks/`. */
function hostWith(files: Map<string, string>, options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options, true);
  const real = { ...host };
  return Object.assign(host, {
    fileExists: (file: string) => files.has(file) || real.fileExists(file),
    readFile: (file: string) => files.get(file) ?? real.readFile(file),
    realpath: (file: string) => (files.has(file) ? file : (real.realpath?.(file) ?? file)),
    directoryExists: (dir: string) =>
      [...files.keys()].some((file) => file.startsWith(`${dir}/`)) ||
      (real.directoryExists?.(dir) ?? true),
    getSourceFile: (
      file: string,
      language: ts.ScriptTarget | ts.CreateSourceFileOptions,
      ...rest: [((message: string) => void)?, boolean?]
    ) => {
      const text = files.get(file);
      return text === undefined
        ? real.getSourceFile(file, language, ...rest)
        : ts.createSourceFile(file, text, language, true);
    },
  });
}

/**
 * Compiles the blocks as one program and returns one line per diagnostic,
 * `<markdown file>:<line>: <message>` for a block's code, `<file>:<line>: <message>` elsewhere.
 *
 * @throws {Error} if two blocks of one section claim the same file name
 */
function compileBlocks(blocks: Block[]): string[] {
  const files = new Map<string, string>();
  const blockOf = new Map<string, Block>();
  for (const block of blocks.filter((b) => b.compiled)) {
    const path = join(ROOT, '.readme-blocks', slug(block.source), block.section, block.name);
    if (files.has(path)) {
      throw new Error(`${block.source}:${block.line}: a second ${block.name} in its section`);
    }
    files.set(path, block.code);
    blockOf.set(path, block);
  }
  const options = compilerOptions();
  const program = ts.createProgram([...files.keys()], options, hostWith(files, options));
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = `TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
    if (!diagnostic.file || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const block = blockOf.get(diagnostic.file.fileName);
    return block
      ? `${block.source}:${block.line + 1 + line}: ${message}`
      : `${diagnostic.file.fileName}:${line + 1}: ${message}`;
  });
}

/** A made-up markdown file whose one compiled block is wrong on its line 7: the check must say so. */
const CANARY = [
  '## Canary',
  '',
  '<!-- readme: not compiled -->',
  '```ts',
  'this is not TypeScript',
  '```',
  '',
  '```typescript',
  '// canary.ts',
  "import { ApiKeyService } from 'nestjs-api-key';",
  "export const wrong: number = ApiKeyService.name + '';",
  '```',
].join('\n');

describe('README and docs TypeScript blocks', () => {
  const blocks = [
    ...typescriptBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'README.md'),
    ...DOC_PAGES.flatMap((page) =>
      typescriptBlocks(readFileSync(join(ROOT, page), 'utf8'), page, true),
    ),
  ];
  const canary = typescriptBlocks(CANARY, 'canary.md');
  // One program for both, as type-checking the library is most of the time.
  let diagnostics: string[] | undefined;
  const compiled = () => (diagnostics ??= compileBlocks([...blocks, ...canary]));

  it('are all compiled: none is marked as not compiling', () => {
    expect(blocks.filter((block) => block.source === 'README.md').length).toBeGreaterThanOrEqual(4);
    for (const page of [
      'docs/custom-entities.md',
      'docs/testing.md',
      'docs/recipes.md',
      'docs/composition.md',
      'docs/openapi-and-rate-limits.md',
      'docs/admin.md',
    ]) {
      expect(blocks.filter((block) => block.source === page).length, page).toBeGreaterThan(0);
    }
    expect(
      blocks.filter((block) => !block.compiled).map((block) => `${block.source}:${block.line}`),
    ).toEqual([]);
  });

  it('compile against the library with the repository compiler options', () => {
    expect(compiled().filter((line) => !line.startsWith('canary.md:'))).toEqual([]);
  }, 180_000);

  it('would report a broken block at its line, and skip only a marked one', () => {
    expect(
      canary.map(({ line, section, name, compiled }) => ({ line, section, name, compiled })),
    ).toEqual([
      { line: 4, section: 'canary', name: 'readme-line-4.ts', compiled: false },
      { line: 8, section: 'canary', name: 'canary.ts', compiled: true },
    ]);
    const found = compiled().filter((line) => line.startsWith('canary.md:'));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^canary\.md:11: TS2322 /);
  }, 180_000);
});
