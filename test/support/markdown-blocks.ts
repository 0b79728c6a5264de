/** The fenced code blocks of a markdown page, as the README and docs tests read them. */

/** A block that is not meant to compile carries this on the line before its fence. */
export const NOT_COMPILED = '<!-- readme: not compiled -->';
export const TYPESCRIPT_FENCES = new Set(['ts', 'typescript', 'tsx', 'mts', 'cts']);

export interface Block {
  /** The markdown file the block is in, for messages. */
  source: string;
  /** 1-based line of the opening fence in the markdown. */
  line: number;
  /** Slug of the `##` section the block is in. */
  section: string;
  /** The fence's language, lower-cased (`ts`, `json`, `bash`), or `''`. */
  language: string;
  /** The file a TypeScript block is, named by its first line (`// app.module.ts`) or its line. */
  name: string;
  code: string;
  compiled: boolean;
}

/** A heading as a section name: `Quick start` is `quick-start`. */
export function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * Every fenced block, with the section it sits in; headings inside fences are skipped. With
 * `onePage`, every block is in the section `page`.
 */
export function fencedBlocks(markdown: string, source: string, onePage = false): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let section = onePage ? 'page' : 'top';
  for (let i = 0; i < lines.length; i++) {
    const fence = /^( *)(`{3,})\s*([\w-]*)/.exec(lines[i]);
    if (!fence) {
      if (lines[i].startsWith('## ') && !onePage) section = slug(lines[i].slice(3));
      continue;
    }
    const [, indent, ticks, language] = fence;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].trimStart().startsWith(ticks); i++) {
      body.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i]);
    }
    let before = start - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const named = /^\/\/ ([\w.-]+\.ts)\s*$/.exec(body[0] ?? '');
    blocks.push({
      source,
      line: start + 1,
      section,
      language: language.toLowerCase(),
      name: named ? named[1] : `readme-line-${start + 1}.ts`,
      code: body.join('\n'),
      compiled: lines[before]?.trim() !== NOT_COMPILED,
    });
  }
  return blocks;
}

/** The TypeScript blocks of a page: see `fencedBlocks`. */
export function typescriptBlocks(markdown: string, source: string, onePage = false): Block[] {
  return fencedBlocks(markdown, source, onePage).filter((block) =>
    TYPESCRIPT_FENCES.has(block.language),
  );
}
