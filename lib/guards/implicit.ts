import { Injectable, type ExecutionContext, type Type } from '@nestjs/common';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { registrationOfGuard } from './factory.js';
import { ApiKeyGuard } from '../api-key.guard.js';
import { RouteMemo } from '../request/route-rules.js';

/**
 * The `ApiKeyGuard` that `@AllowApiKeyOr()` applies, so that `@AllowApiKeyOr(JwtGuard)` alone
 * means "a default key or a JWT". When the route (its method or class) names an API key guard
 * of another registration, as in `@UseGuards(PartnerApiKeyGuard) @AllowApiKeyOr(JwtGuard)`, that
 * guard is the key side of the OR and this one stands aside: otherwise a default key would be
 * required as well, and a partner key alone could never get in.
 */
@Injectable()
export class ImplicitApiKeyGuard<T extends AbstractApiKey = AbstractApiKey> extends ApiKeyGuard<T> {
  private readonly keySideNamed = new RouteMemo((handler, owner) =>
    namesKeyGuardOfOtherRegistration(handler, owner, this.registration),
  );

  /** Skips as `ApiKeyGuard` does, and also where the route names another registration's guard. */
  protected override shouldSkip(context: ExecutionContext): boolean {
    return super.shouldSkip(context) || this.keySideNamed.get(context);
  }
}

/**
 * The API key guards a route names in `@UseGuards()` (class, then method), other than the one
 * `@AllowApiKeyOr()` applies, each with its registration.
 */
export function declaredKeyGuards(
  handler: Function | undefined,
  owner: Type | undefined,
): Array<{ guard: unknown; registration: string }> {
  const declared: unknown[] = [
    ...((owner && Reflect.getMetadata(GUARDS_METADATA, owner)) ?? []),
    ...((handler && Reflect.getMetadata(GUARDS_METADATA, handler)) ?? []),
  ];
  const keyGuards: Array<{ guard: unknown; registration: string }> = [];
  for (const guard of declared) {
    const registration = registrationOfGuard(guard);
    if (registration !== undefined && !isImplicit(guard)) keyGuards.push({ guard, registration });
  }
  return keyGuards;
}

/** Whether a route names an API key guard of a registration other than `registration`. */
export function namesKeyGuardOfOtherRegistration(
  handler: Function | undefined,
  owner: Type | undefined,
  registration: string,
): boolean {
  return declaredKeyGuards(handler, owner).some((entry) => entry.registration !== registration);
}

/** Whether a `@UseGuards()` entry is the guard `@AllowApiKeyOr()` applies. */
export function isImplicit(guard: unknown): boolean {
  return guard === ImplicitApiKeyGuard || guard instanceof ImplicitApiKeyGuard;
}
