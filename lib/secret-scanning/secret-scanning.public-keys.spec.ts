import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SecretScanningPublicKeys, type GitHubPublicKey } from './secret-scanning.public-keys.js';

/** A signing key as GitHub has them: ECDSA P-256, the public half as PEM. */
function signingKey(identifier: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const published: GitHubPublicKey = {
    key_identifier: identifier,
    key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    is_current: true,
  };
  const signed = (payload: Buffer) => sign('sha256', payload, privateKey).toString('base64');
  return { published, signed };
}

const HOUR = 3_600_000;
const payload = Buffer.from('[{"token":"t","type":"x","url":null,"source":"content"}]');

describe('SecretScanningPublicKeys from a URL', () => {
  const first = signingKey('first');
  const second = signingKey('second');
  let server: Server;
  let url: string;
  let served: GitHubPublicKey[];
  let status: number;
  let requests: number;
  let time: number;
  const now = () => time;

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests++;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ public_keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/meta/public_keys/secret_scanning`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  beforeEach(() => {
    served = [first.published];
    status = 200;
    requests = 0;
    time = 1_000_000;
  });

  it('fetches the keys once and checks signatures with them until cacheTtl has passed', async () => {
    const keys = new SecretScanningPublicKeys({ url, cacheTtl: HOUR }, now);
    expect(await keys.verify(payload, 'first', first.signed(payload))).toBe(true);
    expect(await keys.verify(payload, 'first', second.signed(payload))).toBe(false);
    expect(await keys.verify(Buffer.from('tampered'), 'first', first.signed(payload))).toBe(false);
    time += HOUR - 1;
    expect(await keys.verify(payload, 'first', first.signed(payload))).toBe(true);
    expect(requests).toBe(1);
    served = [second.published];
    time += 2;
    expect(await keys.verify(payload, 'first', first.signed(payload))).toBe(false);
    expect(await keys.verify(payload, 'second', second.signed(payload))).toBe(true);
    expect(requests).toBe(2);
  });

  it('an unknown identifier fetches again, at most once a minute', async () => {
    const keys = new SecretScanningPublicKeys({ url }, now);
    expect(await keys.verify(payload, 'second', second.signed(payload))).toBe(false);
    served = [first.published, second.published];
    time += 30_000;
    expect(await keys.verify(payload, 'second', second.signed(payload))).toBe(false);
    expect(requests).toBe(1);
    time += 31_000;
    expect(await keys.verify(payload, 'second', second.signed(payload))).toBe(true);
    expect(requests).toBe(2);
  });

  it('requests at the same time share one fetch', async () => {
    const keys = new SecretScanningPublicKeys({ url }, now);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => keys.verify(payload, 'first', first.signed(payload))),
    );
    expect(results).toEqual([true, true, true, true, true]);
    expect(requests).toBe(1);
  });

  it('an answer that is an error or not in GitHub shape is an error, never a pass', async () => {
    status = 503;
    const keys = new SecretScanningPublicKeys({ url }, now);
    await expect(keys.verify(payload, 'first', first.signed(payload))).rejects.toThrow(/503/);
    status = 200;
    served = [{ key_identifier: 'first' } as GitHubPublicKey];
    time += HOUR + 1;
    await expect(keys.verify(payload, 'first', first.signed(payload))).rejects.toThrow(/PEM/);
  });

  it('a signature that is not base64 DER is false', async () => {
    const keys = new SecretScanningPublicKeys({ url }, now);
    expect(await keys.verify(payload, 'first', 'not a signature')).toBe(false);
  });
});
