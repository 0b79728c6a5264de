import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import type { Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyService,
  getApiKeyRepositoryToken,
  type ApiKey,
  type CreatedApiKey,
} from '../../lib/index.js';
import { ENGINES } from '../support/databases.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, startOnNewDatabase } from '../support/http.js';
import { rawRequest, withLenientParser, type RawAnswer } from '../support/raw-http.js';
import { HostileInputAppModule } from './hostile-input.app.js';

/** Exactly `length` characters: `text` cut or padded with `fill`. */
function fit(text: string, length: number, fill = 'x'): string {
  return text.padEnd(length, fill).slice(0, length);
}

/** A value of a key's exact shape, `<8>.<32>`, with hostile content in the slots. */
function keyShaped(prefix: string, secret: string): string {
  return `${fit(prefix, 8)}.${fit(secret, 32)}`;
}

const SQL = [
  "' OR 1=1 --",
  "' OR '1'='1",
  "'; DROP TABLE api_keys; --",
  '" OR ""="',
  "%' OR 1=1 #",
  '1; SELECT pg_sleep(10) --',
  "' UNION SELECT hashed_key FROM api_keys --",
  "\\' OR 1=1 /*",
];

/** Header values Node's parser accepts, so they reach the guard, each with why it is hostile. */
function hostileValues(valid: string): Array<[string, string | Buffer]> {
  const [prefix, secret] = valid.split('.');
  return [
    ['15 KB value', `Api-Key ${'A'.repeat(15_000)}`],
    ['10,000 dots', `Api-Key ${'.'.repeat(10_000)}`],
    ['10,000 dots, no scheme', '.'.repeat(10_000)],
    ['key-shaped run repeated', `Api-Key ${`${'A'.repeat(8)}.`.repeat(1_000)}`],
    ['scheme repeated', 'Api-Key '.repeat(1_500)],
    ...SQL.map((sql): [string, string] => [
      `SQL in the prefix: ${sql}`,
      `Api-Key ${keyShaped(sql, sql.slice(8))}`,
    ]),
    ...SQL.map((sql): [string, string] => [
      `SQL in the secret: ${sql}`,
      `Api-Key ${keyShaped(prefix, sql)}`,
    ]),
    ['LIKE wildcards as prefix', `Api-Key ${keyShaped('%%%%%%%%', secret)}`],
    ['underscore wildcards as prefix', `Api-Key ${keyShaped('________', secret)}`],
    ['punctuation in prefix', `Api-Key ${keyShaped('ab-cd_ef', secret)}`],
    ['base64 secret', `Api-Key ${keyShaped(prefix, 'A+/=B+/=C+/=D+/=E+/=F+/=G+/=H+/=')}`],
    ['spaces in prefix', `Api-Key ${keyShaped('        ', secret)}`],
    ['unicode prefix', Buffer.from(`Api-Key ${keyShaped('ключключ', secret)}`, 'utf8')],
    ['emoji secret', Buffer.from(`Api-Key ${prefix}.${'🔑'.repeat(16)}`, 'utf8')],
    [
      'zero-width space inside the key',
      Buffer.from(`Api-Key ${prefix}.\u200b${secret.slice(1)}`, 'utf8'),
    ],
    ['right-to-left override', Buffer.from(`Api-Key \u202e${valid.slice(1)}`, 'utf8')],
    ['fullwidth digits', Buffer.from(`Api-Key ${keyShaped('０１２３４５６７', secret)}`, 'utf8')],
    ['latin-1 bytes', Buffer.concat([Buffer.from('Api-Key '), Buffer.alloc(41, 0xe9)])],
    ['percent-encoded CRLF', `Api-Key ${prefix}.%0d%0aSet-Cookie:%20x`],
    ['tab inside the key', `Api-Key ${prefix}.\t${secret.slice(1)}`],
    ['object-looking', 'Api-Key {"$ne":null}'],
    ['prototype name', 'Api-Key __proto__'],
    ['constructor name', 'Api-Key constructor'],
    ['object string', 'Api-Key [object Object]'],
    ['null', 'Api-Key null'],
    ['NaN', 'Api-Key NaN'],
    [
      'valid prefix, SQL-ish secret of the right alphabet',
      `Api-Key ${prefix}.${fit('ORxxxxxx1x1', 32)}`,
    ],
  ];
}

/**
 * Bytes a strict HTTP parser refuses itself, before any app code runs. Node 20 to 26 all refuse
 * each of them (400, or 431 for the 100 KB values); whether a later line does is up to Node.
 */
function parserRefusedValues(valid: string): Array<[string, string]> {
  return [
    ['100 KB value', `Api-Key ${'A'.repeat(100_000)}`],
    ['100 KB of dots', `Api-Key ${'.'.repeat(100_000)}`],
    ['NUL after a valid key', `Api-Key ${valid}\u0000`],
    ['NUL inside', `Api-Key ${valid.slice(0, 20)}\u0000${valid.slice(21)}`],
    ['SOH', `Api-Key \u0001${valid.slice(1)}`],
    ['ESC', `Api-Key \u001b[31m${valid}`],
    ['DEL', `Api-Key ${valid}\u007f`],
    ['lone CR', `Api-Key ${valid}\rX-Injected: 1`],
    ['obsolete line folding', `Api-Key\r\n ${valid}`],
  ];
}

/**
 * No header content, however long, odd or hostile, gets a 500 or gets in; and none of it stops
 * the app from serving a valid key afterwards. Run on every engine because well-formed hostile
 * keys are looked up.
 */
describe.each(ENGINES)('hostile input on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let app: INestApplication;
    let url: string;
    let stop: () => Promise<void>;
    let valid: CreatedApiKey;
    /** The 401 of a request with no key at all, byte for byte: every refusal must equal it. */
    let reference: RawAnswer;

    const send = (value: string | Buffer) => rawRequest(`${url}/vault`, [['Authorization', value]]);

    async function expectStillServing(): Promise<void> {
      const ok = await send(`Api-Key ${valid.key}`);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ prefix: valid.apiKey.prefix });
    }

    function expectSameRefusal(answer: RawAnswer, label: string): void {
      expect(answer.status, label).toBe(401);
      expectUnauthorized(answer);
      expect(answer.text, label).toBe(reference.text);
    }

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase(engine, adapter, (database) =>
        HostileInputAppModule.register(database),
      ));
      valid = await app.get(ApiKeyService).create({ name: 'target' });
      reference = await rawRequest(`${url}/vault`, []);
      expectUnauthorized(reference);
    });
    afterAll(() => stop?.());

    it('refuses every hostile value that reaches the guard with the one generic 401', async () => {
      for (const [label, value] of hostileValues(valid.key)) {
        expectSameRefusal(await send(value), label);
      }
      await expectStillServing();
    });

    it('leaves the key table intact after SQL-looking keys', async () => {
      const repository = app.get<Repository<ApiKey>>(getApiKeyRepositoryToken());
      for (const sql of SQL) expectSameRefusal(await send(`Api-Key ${keyShaped(sql, sql)}`), sql);
      expect(await repository.count()).toBe(1);
      await expectStillServing();
    });

    it('refuses repeated Authorization headers carrying hostile values', async () => {
      const answer = await rawRequest(`${url}/vault`, [
        ['Authorization', `Api-Key ${keyShaped("' OR 1=1", '--')}`],
        ['Authorization', `Api-Key ${valid.key}`],
        ['authorization', 'Api-Key {"$ne":null}'],
      ]);
      expectSameRefusal(answer, 'repeated');
      await expectStillServing();
    });

    it('survives a burst of concurrent hostile requests', async () => {
      const values = hostileValues(valid.key);
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) => send(values[i % values.length][1])),
      );
      for (const [i, answer] of answers.entries())
        expectSameRefusal(answer, values[i % values.length][0]);
      await expectStillServing();
    });

    it('gets a 4xx from the HTTP parser or the generic 401, never a 500, for bytes a strict server refuses', async () => {
      for (const [label, value] of parserRefusedValues(valid.key)) {
        const answer = await send(value);
        // What a Node line's parser lets through must meet the guard's one refusal instead.
        if (answer.status === 401) expectSameRefusal(answer, label);
        else expect([400, 431], `${label}: ${answer.status}`).toContain(answer.status);
      }
      await expectStillServing();
    });

    it('refuses those same bytes with the generic 401 on a lenient server, where they reach the guard', async () => {
      await withLenientParser(app.getHttpServer(), async () => {
        // Even a lenient parser refuses a bare CR (it is how requests are smuggled), and it
        // unfolds a folded line into the plain valid key, as RFC 9112 §5.2 allows.
        const parserOutcome: Record<string, number> = {
          'lone CR': 400,
          'obsolete line folding': 200,
        };
        for (const [label, value] of parserRefusedValues(valid.key)) {
          const answer = await send(value);
          if (label in parserOutcome) expect(answer.status, label).toBe(parserOutcome[label]);
          else expectSameRefusal(answer, label);
        }
        await expectStillServing();
      });
    });
  });
});
