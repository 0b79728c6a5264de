import 'reflect-metadata';
import { Module, UseGuards } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyGuard,
  ApiKeyModule,
  ApiKeyService,
  CurrentApiKey,
  type ApiKey,
} from '../../lib/index.js';
import { ADAPTERS, startOnNewDatabase } from '../support/http.js';
import { FAST_BCRYPT, withWrongSecret } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';

@WebSocketGateway()
class KeyGateway {
  @UseGuards(ApiKeyGuard)
  @SubscribeMessage('whoami')
  whoami(_client: unknown, _body: unknown, @CurrentApiKey() apiKey?: ApiKey) {
    return apiKey?.prefix ?? 'no key on the handshake';
  }
}

function connect(url: string, headers: Record<string, string>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      extraHeaders: headers,
      reconnection: false,
      timeout: 5000,
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** Emits `whoami` and resolves with the acknowledgement, or with the gateway's `exception` event. */
function ask(socket: Socket): Promise<{ ack?: string; exception?: any }> {
  return new Promise((resolve) => {
    socket.once('exception', (exception) => resolve({ exception }));
    socket.emit('whoami', {}, (ack: string) => resolve({ ack }));
  });
}

describe.each(ADAPTERS)('WebSocket gateway (socket.io) on %s', (_platform, adapter) => {
  let app: any;
  let url: string;
  let stop: () => Promise<void>;
  let key: string;
  let prefix: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) => {
      @Module({
        imports: [typeOrmFor(database), ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })],
        providers: [KeyGateway],
      })
      class AppModule {}
      return AppModule;
    }));
    const created = await app.get(ApiKeyService).create({ name: 'ws' });
    key = created.key;
    prefix = created.apiKey.prefix;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    await stop?.();
  });

  it('reads the key from the handshake headers and hands it to the handler', async () => {
    const socket = await connect(url, { authorization: `Api-Key ${key}` });
    sockets.push(socket);
    expect(await ask(socket)).toEqual({ ack: prefix });
  });

  it('refuses a missing or bad key with a WsException, not an internal error', async () => {
    for (const headers of [{}, { authorization: `Api-Key ${withWrongSecret(key)}` }] as Record<
      string,
      string
    >[]) {
      const socket = await connect(url, headers);
      sockets.push(socket);
      const answer = await ask(socket);
      expect(answer.ack).toBeUndefined();
      expect(answer.exception).toMatchObject({ status: 'error', message: 'Forbidden resource' });
    }
  });
});
