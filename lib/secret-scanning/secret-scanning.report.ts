import { BadRequestException } from '@nestjs/common';

/** One match in a GitHub secret-scanning partner report. */
export interface LeakReportEntry {
  token: string;
  type: string;
  url: string | null;
  source: string | null;
}

/** GitHub's answer format for one reported token: its hash, never the token itself. @publicApi */
export interface SecretScanningLabel {
  /** SHA-256 of the token, hex. */
  token_hash: string;
  token_type: string;
  label: 'true_positive' | 'false_positive';
}

/** Longest token or field value looked at: anything longer is no key of ours. */
const MAX_FIELD_LENGTH = 2048;

const isField = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= MAX_FIELD_LENGTH;

/**
 * The entries of a report body: a JSON list of `{ token, type, url?, source? }`.
 *
 * @throws {BadRequestException} for anything else, naming no token
 */
export function parseLeakReport(raw: Buffer, maxTokens: number): LeakReportEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadRequestException('The report is not JSON.');
  }
  if (!Array.isArray(parsed) || parsed.length > maxTokens)
    throw new BadRequestException(
      `The report must be a JSON list of at most ${maxTokens} matches.`,
    );
  return parsed.map((entry: Record<string, unknown> | null) => {
    const { token, type, url, source } = entry ?? {};
    const optional = (value: unknown) => value === undefined || value === null || isField(value);
    if (!isField(token) || !isField(type) || !optional(url) || !optional(source))
      throw new BadRequestException('Each match needs a string "token" and "type".');
    return { token, type, url: (url as string) ?? null, source: (source as string) ?? null };
  });
}
