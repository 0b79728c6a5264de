import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { invalidAllowedIps, IpAllowLists, parseAllowedIp } from './ip-allow-list.js';

/** An IPv4 address as a 32-bit number and its dotted form. */
const ipv4 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const dotted = (n: number) => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');

/** An IPv6 address as eight 16-bit groups and its full form. */
const ipv6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
const groups = (parts: number[]) => parts.map((part) => part.toString(16)).join(':');

/** The first address of the `bits`-bit range holding `n`. */
const network = (n: number, bits: number) =>
  (bits === 0 ? 0 : (n >>> (32 - bits)) << (32 - bits)) >>> 0;

describe('IpAllowLists', () => {
  const lists = new IpAllowLists();

  it('admits every IPv4 address of a CIDR range and refuses every address outside it', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 0, max: 32 }), ipv4, (base, bits, client) => {
        const range = `${dotted(network(base, bits))}/${bits}`;
        const inside = network(client, bits) === network(base, bits);
        expect(lists.allows([range], dotted(client))).toBe(inside);
      }),
    );
  });

  it('matches IPv4-mapped IPv6 clients against IPv4 ranges, and mapped ranges against IPv4 clients', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 8, max: 32 }), ipv4, (base, bits, client) => {
        const inside = network(client, bits) === network(base, bits);
        const range = `${dotted(network(base, bits))}/${bits}`;
        expect(lists.allows([range], `::ffff:${dotted(client)}`)).toBe(inside);
        const mappedRange = `::ffff:${dotted(network(base, bits))}/${96 + bits}`;
        expect(lists.allows([mappedRange], dotted(client))).toBe(inside);
      }),
    );
  });

  it('admits an IPv6 address in its own /64 and an exact address however it is written', () => {
    fc.assert(
      fc.property(ipv6, ipv6, (base, client) => {
        const range = `${groups([...base.slice(0, 4), 0, 0, 0, 0])}/64`;
        const inside = base.slice(0, 4).every((part, i) => part === client[i]);
        expect(lists.allows([range], groups(client))).toBe(inside);
        // Zero-padded and upper-case forms are one address.
        const padded = client.map((part) => part.toString(16).padStart(4, '0').toUpperCase());
        expect(lists.allows([groups(client)], padded.join(':'))).toBe(true);
      }),
    );
  });

  it('refuses an unknown or unparsable client address whatever the list', () => {
    for (const client of [null, undefined, '', 'localhost', '127.0.0.1, 10.0.0.1', '1.2.3'])
      expect(lists.allows(['0.0.0.0/0', '::/0'], client)).toBe(false);
  });
});

describe('invalidAllowedIps', () => {
  it('accepts addresses and ranges of both families', () => {
    expect(
      invalidAllowedIps(['10.0.0.0/8', '127.0.0.1', '2001:db8::/32', '::1', '::ffff:10.0.0.0/104']),
    ).toEqual([]);
  });

  it('names every entry that is not an address or range, and refuses what is not a list', () => {
    expect(
      invalidAllowedIps(['10.0.0.0/33', '999.1.1.1', '::1/129', '10.0.0.0/', '10.0.0.0/a', 7]),
    ).toEqual(['10.0.0.0/33', '999.1.1.1', '::1/129', '10.0.0.0/', '10.0.0.0/a', '7']);
    expect(invalidAllowedIps('10.0.0.0/8')).toBeNull();
    expect(invalidAllowedIps(Array(101).fill('::1'))).toBeNull();
  });

  it('never accepts a string holding anything but hex digits, dots, colons and one slash', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (entry) => {
        fc.pre(/[^0-9a-fA-F:./]/.test(entry));
        expect(parseAllowedIp(entry)).toBeNull();
      }),
    );
  });
});
