/**
 * The child app's side of the soak rows (`soak.ts`): keys that expire, revocations made while
 * traffic runs, and memory readings, answered over the same IPC channel as the other messages.
 */
import type { INestApplication } from '@nestjs/common';
import { ApiKeyService } from '../../lib/index.js';
import type { ChildMessage, MemoryUsage, ParentMessage } from './scenario.js';

/** The messages only the soak sends. */
type SoakMessage = Extract<
  ParentMessage,
  { type: 'create-expiring-key' | 'revoke-key' | 'memory-usage' }
>;
const SOAK_MESSAGES = new Set<string>(['create-expiring-key', 'revoke-key', 'memory-usage']);

/** Forced collections before a reading: a second and third pick up what the first left to finalise. */
const COLLECTIONS = 3;

/** The process's memory, after forced collections when the process runs with `--expose-gc`. */
function memoryUsage(): MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; gc && i < COLLECTIONS; i++) gc();
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, heapUsed, external, afterGc: gc !== undefined };
}

/** The answer to a soak message. */
async function soakAnswer(app: INestApplication, message: SoakMessage): Promise<ChildMessage> {
  switch (message.type) {
    case 'create-expiring-key': {
      const service = app.get(ApiKeyService);
      const created = await service.create({
        name: 'soak, expiring',
        expiresAt: new Date(message.expiresAt),
      });
      return { type: 'keys', keys: [created.key] };
    }
    case 'revoke-key':
      await app.get(ApiKeyService).revoke(message.prefix);
      return { type: 'revoked' };
    case 'memory-usage':
      return { type: 'usage', usage: memoryUsage() };
  }
}

/**
 * Answers `message` through `send` when it is one of the soak's; an error becomes an `error`
 * message, as the other answers' do.
 * @returns whether the message was the soak's (and so is answered)
 */
export function answerSoakMessage(
  app: INestApplication,
  message: ParentMessage,
  send: (answer: ChildMessage) => void,
): boolean {
  if (!SOAK_MESSAGES.has(message.type)) return false;
  soakAnswer(app, message as SoakMessage)
    .then(send)
    .catch((error: Error) => send({ type: 'error', message: error.message }));
  return true;
}
