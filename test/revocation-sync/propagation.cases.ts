import { expect, it } from 'vitest';
import { call } from '../support/http.js';
import { statusWithin, type NotifyPair } from './revocation-sync.app.js';

/** The raw SQL of one database, with its own placeholder, revoking and deleting a key by id. */
export interface RawChanges {
  revoke: string;
  delete: string;
}

/**
 * The changes every notify-mode channel must carry from one instance to the other: a revoke
 * through the service, a raw SQL revoke and DELETE, a rotation without grace, a scope change.
 */
export function itPropagatesChanges(pair: () => NotifyPair, raw: RawChanges): void {
  it('a revoke through one instance is refused by the other within the bound', async () => {
    const { key, apiKey } = await pair().warmKey();
    await pair().service().revoke(apiKey.id);
    expect(await statusWithin(`${pair().apps[1].url}/who`, key, 401)).toBe(401);
  });

  it('a raw SQL revoke and a raw DELETE reach both instances', async () => {
    const { sql, apps } = pair();
    const revoked = await pair().warmKey();
    await sql.query(raw.revoke, [revoked.apiKey.id]);
    const deleted = await pair().warmKey();
    await sql.query(raw.delete, [deleted.apiKey.id]);
    for (const { url } of apps) {
      expect(await statusWithin(`${url}/who`, revoked.key, 401)).toBe(401);
      expect(await statusWithin(`${url}/who`, deleted.key, 401)).toBe(401);
    }
  });

  it('a rotation without grace and a scope change are honoured by the other instance', async () => {
    const { apps } = pair();
    const service = pair().service();
    const rotated = await pair().warmKey();
    const { key: successor } = await service.rotate(rotated.apiKey.id, { gracePeriod: 0 });
    expect(await statusWithin(`${apps[1].url}/who`, rotated.key, 401)).toBe(401);
    expect(
      (await call(`${apps[1].url}/who`, { headers: { authorization: `Api-Key ${successor}` } }))
        .status,
    ).toBe(200);

    const scoped = await pair().warmKey(['write']);
    expect(await statusWithin(`${apps[1].url}/write`, scoped.key, 200)).toBe(200);
    await service.update(scoped.apiKey.id, { scopes: ['read'] });
    expect(await statusWithin(`${apps[1].url}/write`, scoped.key, 403)).toBe(403);
  });
}
