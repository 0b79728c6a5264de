/** The key policy options of the CLI's `create`: `--allowed-ips`, `--uses` and `--refill`. */
import { CliUsageError } from './errors.js';

/** The policies `create` gives a key; a field left out is no such policy. */
export interface CliPolicies {
  allowedIps?: string[];
  remaining?: number;
  refillAmount?: number;
  refillInterval?: 'day' | 'month';
}

/**
 * `create`'s policies: `--allowed-ips a,b`, `--uses n`, `--refill n/day`. The addresses are
 * checked by the service, which names the entries at fault.
 *
 * @throws {CliUsageError} for --uses that is not a whole number, or a --refill not of the form n/day or n/month
 */
export function policyArguments(
  values: Record<string, string | boolean | string[] | undefined>,
): CliPolicies {
  const policies: CliPolicies = {};
  const allowed = values['allowed-ips'] as string | undefined;
  if (allowed !== undefined)
    policies.allowedIps = allowed
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
  const uses = values.uses as string | undefined;
  if (uses !== undefined) {
    if (!/^\d{1,10}$/.test(uses))
      throw new CliUsageError(`--uses "${uses}" is not a whole number of requests, such as 100.`);
    policies.remaining = Number(uses);
  }
  const refill = values.refill as string | undefined;
  if (refill !== undefined) {
    const match = /^(\d{1,10})\/(day|month)$/.exec(refill);
    if (!match)
      throw new CliUsageError(
        `--refill "${refill}" is not of the form <n>/day or <n>/month, such as 100/day.`,
      );
    policies.refillAmount = Number(match[1]);
    policies.refillInterval = match[2] as 'day' | 'month';
  }
  return policies;
}
