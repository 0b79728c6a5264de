import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs dependency-cruiser with the repository's own rules (.dependency-cruiser.cjs) on `paths`. */
async function violations(paths: string[]): Promise<IViolation[]> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'));
  const tsConfig = extractTSConfig(join(ROOT, 'tsconfig.json'));
  const previous = process.cwd();
  process.chdir(ROOT);
  try {
    const result = await cruise(paths, options, undefined, { tsConfig });
    return (result.output as ICruiseResult).summary.violations;
  } finally {
    process.chdir(previous);
  }
}

const describeViolation = (violation: IViolation): string =>
  `${violation.rule.name}: ${violation.from} -> ${violation.to}`;

/**
 * The house rules `npm test` enforces through `npm run check:deps`: no import cycles (type-only
 * imports count), the core never imports the CLI or an integration, integrations never import
 * each other, and the shipped library never imports tests or the bench. The second case proves
 * the rules can fail, on a cycle made for the purpose.
 */
describe('import rules', () => {
  // Outside the repository, so no other spec reading lib/ or test/ meets these files.
  const scratch = mkdtempSync(join(tmpdir(), 'api-key-cycle-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('hold for lib/, bench/, sample-app/ and test/', async () => {
    const found = await violations(['lib', 'bench', 'sample-app', 'test']);
    expect(found.map(describeViolation)).toEqual([]);
  });

  it('catch a new cycle, even one closed by a type-only import', async () => {
    writeFileSync(
      join(scratch, 'a.ts'),
      "import { b } from './b.js';\nexport const a = () => b;\n",
    );
    writeFileSync(
      join(scratch, 'b.ts'),
      "import type { a } from './a.js';\nexport const b = 1;\nexport type A = typeof a;\n",
    );
    const found = await violations([scratch]);
    expect(found.map((violation) => violation.rule.name)).toContain('no-cycle');
  });
});
