import type { CanActivate, ExecutionContext, Logger, Type } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';

/** Asks one alternative guard whether it lets the request in. */
export type ConsultGuard = (
  guard: CanActivate,
  context: ExecutionContext,
) => ReturnType<CanActivate['canActivate']>;

/**
 * The guards named in `@AllowApiKeyOr()`, resolved through Nest on first use and kept: a provider
 * when one is registered anywhere, else an instance created once with its dependencies.
 */
export class AlternativeGuards {
  private readonly instances = new Map<Type<CanActivate>, Promise<CanActivate>>();

  /**
   * @param consult how each guard is asked; the API key guard asks another registration's guard
   *   for its key alone, so that guard's own skip and alternatives cannot open the route or recurse
   */
  constructor(private readonly consult: ConsultGuard) {}

  /**
   * Whether any of the guards lets the request in. A guard that throws counts as a refusal,
   * logged at debug level.
   *
   * @param moduleRef resolves the guards; without it every guard refuses
   */
  async anyPasses(
    guards: Type<CanActivate>[],
    context: ExecutionContext,
    moduleRef: ModuleRef | undefined,
    logger: Logger,
  ): Promise<boolean> {
    for (const guardType of guards) {
      try {
        const guard = await this.resolve(guardType, moduleRef);
        const result = this.consult(guard, context);
        if (await (isObservable(result) ? lastValueFrom(result) : result)) return true;
      } catch (error) {
        // Under OR, one guard's refusal is not the answer; the key's refusal is sent if all refuse.
        logger.debug(`Alternative guard ${guardType.name} refused: ${(error as Error)?.message}`);
      }
    }
    return false;
  }

  private resolve(
    guardType: Type<CanActivate>,
    moduleRef: ModuleRef | undefined,
  ): Promise<CanActivate> {
    let instance = this.instances.get(guardType);
    if (!instance) {
      if (!moduleRef)
        throw new Error('ModuleRef is not available to resolve @AllowApiKeyOr() guards.');
      instance = findOrCreate(moduleRef, guardType);
      // A guard that could not be created is tried again on the next request, not cached as failed.
      instance.catch(() => this.instances.delete(guardType));
      this.instances.set(guardType, instance);
    }
    return instance;
  }
}

async function findOrCreate(
  moduleRef: ModuleRef,
  guardType: Type<CanActivate>,
): Promise<CanActivate> {
  try {
    const found = moduleRef.get(guardType, { strict: false });
    if (found) return found;
  } catch {
    // Not a provider anywhere: instantiate it with its dependencies, once.
  }
  return moduleRef.create(guardType);
}
