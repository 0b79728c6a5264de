import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { fencedBlocks, TYPESCRIPT_FENCES, type Block } from '../support/markdown-blocks.js';
import { REPO_ROOT } from '../support/packed-package.js';
import type { ModuleKind, RunningApp, ScratchApp } from './scratch-app.js';

/** What one walked command gave: the status and body of a `curl`, the stdout of the CLI. */
export interface Step {
  command: string;
  status?: number;
  body?: unknown;
  stdout?: string;
}

/** The blocks of a markdown file of the repository, of one `##` section or of the whole page. */
export function blocksOf(file: string, section?: string): Block[] {
  const blocks = fencedBlocks(readFileSync(join(REPO_ROOT, file), 'utf8'), file, !section);
  const found = section ? blocks.filter((block) => block.section === section) : blocks;
  expect(found.length, `${file} has blocks${section ? ` in "${section}"` : ''}`).toBeGreaterThan(0);
  return found;
}

/** The TypeScript blocks as the files they name in their first line (`// app.module.ts`). */
export function sourceFiles(blocks: Block[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const block of blocks.filter((b) => TYPESCRIPT_FENCES.has(b.language))) {
    expect(block.code, `${block.source}:${block.line} names its file`).toMatch(/^\/\/ \S+\.ts\n/);
    files.set(block.name, block.code);
  }
  return files;
}

/**
 * The files with the section's one `diff` block applied to `file`: its `-` lines, in a row, give
 * way to its `+` lines, as a reader edits them.
 */
export function withDiffApplied(
  files: Map<string, string>,
  blocks: Block[],
  file: string,
): Map<string, string> {
  const diffs = blocks.filter((block) => block.language === 'diff');
  expect(diffs, 'one diff block').toHaveLength(1);
  const lines = diffs[0].code.split('\n');
  const changed = (sign: string) =>
    lines.filter((line) => line.startsWith(sign)).map((line) => `${line.slice(1)}\n`);
  const [removed, added] = [changed('-').join(''), changed('+').join('')];
  const before = files.get(file)!;
  expect(before, `${file} holds the lines the diff removes`).toContain(removed);
  return new Map([...files, [file, before.replace(removed, added)]]);
}

/** The quick start's `tsconfig.json`, changed for CommonJS as "CommonJS apps" says. */
export function quickStartTsconfig(
  quickStart: Block[],
  kind: ModuleKind,
): { compilerOptions: Record<string, unknown> } {
  const printed = quickStart.find((block) => block.language === 'json');
  const tsconfig = JSON.parse(printed!.code) as { compilerOptions: Record<string, unknown> };
  if (kind === 'cjs') {
    tsconfig.compilerOptions.module = 'commonjs';
    delete tsconfig.compilerOptions.moduleResolution;
  }
  return tsconfig;
}

/** The command lines of the `bash` blocks that run the app, with `\` continuations joined. */
export function walkedCommands(blocks: Block[]): string[] {
  const walked = blocks.filter(
    (b) => b.language === 'bash' && b.code.includes('node dist/main.js'),
  );
  expect(walked.length, 'one bash block starts the app').toBe(1);
  return walked[0].code
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '');
}

/** A shell line's words (quotes removed) and its trailing `# comment`. */
export function shellWords(line: string): { words: string[]; comment: string } {
  const words: string[] = [];
  for (const match of line.matchAll(/"([^"]*)"|'([^']*)'|(#.*$)|(\S+)/g)) {
    if (match[3] !== undefined) return { words, comment: match[3].slice(1).trim() };
    words.push(match[1] ?? match[2] ?? match[4]);
  }
  return { words, comment: '' };
}

/** An expected body of a comment, where `"…"` stands for any non-empty string. */
function expectedBody(json: string): unknown {
  return JSON.parse(json, (_key, value) =>
    value === '…' ? expect.stringMatching(/./) : (value as unknown),
  );
}

/**
 * Runs the commands as a newcomer would type them, in the scratch app: `npx tsc && node
 * dist/main.js` starts it (already compiled), `npx nestjs-api-key …` runs the package's bin, and
 * `curl …` sends the request, whose answer must match the line's `# <status> [<json>]` comment.
 * Placeholders: `<key>` and `<prefix>` are the last key the CLI printed, `<NAME key>` the key it
 * made with `--name NAME`, and any other `<… key>` the last `key` of a response body.
 */
export async function walk(app: ScratchApp, commands: string[], env: Record<string, string> = {}) {
  const vars = new Map<string, string>();
  const steps: Step[] = [];
  let running: RunningApp | undefined;
  const fill = (word: string) =>
    word.replace(/<([^>]+)>/g, (_, name: string) => {
      const value =
        vars.get(name) ?? (name.endsWith(' key') ? vars.get('response key') : undefined);
      if (value === undefined) throw new Error(`Nothing to put for <${name}> yet`);
      return value;
    });
  try {
    for (const command of commands) {
      const { words, comment } = shellWords(command);
      if (command.trim() === 'npx tsc && node dist/main.js') {
        running = await app.start(env);
      } else if (words[0] === 'npx' && words[1] === 'nestjs-api-key') {
        const stdout = await app.cli(words.slice(2).map(fill), env);
        remember(vars, words, stdout);
        steps.push({ command, stdout });
      } else if (words[0] === 'curl' && running) {
        steps.push(await curl(running, words.map(fill), comment, vars));
      } else {
        throw new Error(`The walk does not know how to run: ${command}`);
      }
    }
  } finally {
    await running?.stop();
  }
  return steps;
}

/** Remembers the key `create` printed, as `<key>`, `<prefix>` and `<NAME key>`. */
function remember(vars: Map<string, string>, words: string[], stdout: string): void {
  const key = /\b([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})\b/.exec(stdout)?.[1];
  if (!words.includes('create')) return;
  expect(key, `create printed a key:\n${stdout}`).toBeDefined();
  vars.set('key', key!);
  vars.set('prefix', key!.split('.')[0]);
  vars.set(`${words[words.indexOf('--name') + 1]} key`, key!);
}

/** Sends a `curl -X … -H … -d … <url>` line to the running app and checks its comment. */
async function curl(
  app: RunningApp,
  words: string[],
  comment: string,
  vars: Map<string, string>,
): Promise<Step> {
  const headers: Record<string, string> = {};
  let method = 'GET';
  let body: string | undefined;
  let url = '';
  for (let i = 1; i < words.length; i++) {
    if (words[i] === '-X') method = words[++i];
    else if (words[i] === '-H') {
      const [name, ...value] = words[++i].split(':');
      headers[name] = value.join(':').trim();
    } else if (words[i] === '-d') body = words[++i];
    else url = words[i].replace(/^http:\/\/localhost:3000/, app.url);
  }
  const response = await fetch(url, { method, headers, body });
  const text = await response.text();
  const json = text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : text;
  const command = `curl ${words.slice(1).join(' ')}`;
  const [, status, expected] = /^(\d{3})(?:\s+(\{.*\}))?/.exec(comment) ?? [];
  expect(status, `${command} says what it answers`).toBeDefined();
  expect(response.status, `${command} answered ${text}`).toBe(Number(status));
  if (expected !== undefined) expect(json, command).toEqual(expectedBody(expected));
  if (typeof json === 'object' && typeof json.key === 'string') vars.set('response key', json.key);
  return { command, status: response.status, body: json };
}
