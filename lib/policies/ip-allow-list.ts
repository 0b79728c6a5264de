import { BlockList, isIP } from 'node:net';
import { LruMap } from '../verification/lru.js';

/** Entries one key's allow-list may hold. */
export const MAX_ALLOWED_IPS = 100;

/** Compiled allow-lists kept, by their entries: keys in use share a handful of lists. */
const COMPILED_LISTS = 1_000;

/** One entry of an allow-list once checked: an address, or a range of `bits` leading bits. */
interface AllowedRange {
  address: string;
  family: 'ipv4' | 'ipv6';
  bits: number;
}

/**
 * Reads one allow-list entry: an IPv4 or IPv6 address, or a CIDR range (`10.0.0.0/8`,
 * `2001:db8::/32`). `null` when the entry is none of these.
 */
export function parseAllowedIp(entry: unknown): AllowedRange | null {
  if (typeof entry !== 'string' || entry.length === 0 || entry.length > 64) return null;
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const maxBits = version === 4 ? 32 : 128;
  let bits = maxBits;
  if (slash !== -1) {
    const text = entry.slice(slash + 1);
    if (!/^\d{1,3}$/.test(text)) return null;
    bits = Number(text);
    if (bits > maxBits) return null;
  }
  return { address, family: version === 4 ? 'ipv4' : 'ipv6', bits };
}

/**
 * The entries of `value` that are not addresses or ranges (see `parseAllowedIp`); `null` when
 * `value` is not a list of at most `MAX_ALLOWED_IPS` strings at all.
 */
export function invalidAllowedIps(value: unknown): string[] | null {
  if (!Array.isArray(value) || value.length > MAX_ALLOWED_IPS) return null;
  return value.filter((entry) => parseAllowedIp(entry) === null).map((entry) => String(entry));
}

/** A `BlockList` holding every range of a checked allow-list. */
function compile(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const range = parseAllowedIp(entry);
    // Lists are checked when written; an entry written around the service matches nothing.
    if (range === null) continue;
    if (range.bits === (range.family === 'ipv4' ? 32 : 128))
      list.addAddress(range.address, range.family);
    else list.addSubnet(range.address, range.bits, range.family);
  }
  return list;
}

/**
 * Matches client addresses against keys' allow-lists, compiling each distinct list once into a
 * `net.BlockList`. It compares addresses as numbers, so `::1` and `0:0::1` are one address, and
 * it treats an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, as a dual-stack server reports an
 * IPv4 client) as the IPv4 address it maps, both ways: one rule covers both forms.
 */
export class IpAllowLists {
  private readonly compiled = new LruMap<string, BlockList>(COMPILED_LISTS);

  /**
   * Whether `clientIp` is in `allowedIps`. An unknown (`null`, empty) or unparsable client
   * address is in no list: the request is refused, never let through.
   */
  allows(allowedIps: readonly string[], clientIp: string | null | undefined): boolean {
    if (!clientIp) return false;
    const version = isIP(clientIp);
    if (version === 0) return false;
    const cacheKey = allowedIps.join(',');
    let list = this.compiled.get(cacheKey);
    if (list === undefined) this.compiled.set(cacheKey, (list = compile(allowedIps)));
    return list.check(clientIp, version === 4 ? 'ipv4' : 'ipv6');
  }
}
