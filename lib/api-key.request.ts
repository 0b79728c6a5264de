import type { ExecutionContext } from '@nestjs/common';

/**
 * The request behind any execution context, without importing `@nestjs/graphql` or
 * `@nestjs/websockets`: HTTP (Express and Fastify), GraphQL (Apollo's `req`, Mercurius'
 * `reply.request`) and WebSocket (socket.io's handshake, or a `ws` client's upgrade request).
 * `undefined` for contexts with no request, such as microservices.
 */
export function resolveRequest(context: ExecutionContext): any {
  switch (context.getType<string>()) {
    case 'http':
      return context.switchToHttp().getRequest();
    case 'graphql': {
      const gqlContext = context.getArgByIndex(2);
      return gqlContext?.req ?? gqlContext?.request ?? gqlContext?.reply?.request;
    }
    case 'ws': {
      const client = context.switchToWs().getClient();
      return client?.handshake ?? client?.request ?? client?.upgradeReq ?? client;
    }
    default:
      return undefined;
  }
}
