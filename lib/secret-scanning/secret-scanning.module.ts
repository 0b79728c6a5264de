import {
  Controller,
  Headers,
  HttpCode,
  Inject,
  Module,
  Post,
  Req,
  type DynamicModule,
  type Type,
} from '@nestjs/common';
import { SkipApiKey } from '../api-key.decorators.js';
import { SecretScanningHandler } from './secret-scanning.handler.js';
import { SECRET_SCANNING_OPTIONS, type SecretScanningOptions } from './secret-scanning.options.js';
import type { SecretScanningLabel } from './secret-scanning.report.js';

/** The endpoint's controller, at `path`; the API key guard skips it (GitHub signs instead). */
function secretScanningController(path: string): Type<unknown> {
  @Controller(path)
  @SkipApiKey()
  class SecretScanningController {
    constructor(@Inject(SecretScanningHandler) private readonly handler: SecretScanningHandler) {}

    @Post()
    @HttpCode(200)
    report(
      @Req() request: { rawBody?: Buffer },
      @Headers('github-public-key-identifier') identifier: unknown,
      @Headers('github-public-key-signature') signature: unknown,
    ): Promise<SecretScanningLabel[]> {
      return this.handler.handle(request.rawBody, identifier, signature);
    }
  }
  return SecretScanningController;
}

/**
 * GitHub's secret-scanning partner endpoint for this app's keys. The app must keep raw bodies:
 * `NestFactory.create(AppModule, { rawBody: true })`, on Express and Fastify alike.
 *
 * @publicApi
 */
@Module({})
export class SecretScanningModule {
  /** Mounts `POST /<path>` (default `/secret-scanning`). */
  static forRoot(options: SecretScanningOptions = {}): DynamicModule {
    return {
      module: SecretScanningModule,
      controllers: [secretScanningController(options.path ?? 'secret-scanning')],
      providers: [{ provide: SECRET_SCANNING_OPTIONS, useValue: options }, SecretScanningHandler],
      exports: [SecretScanningHandler],
    };
  }
}
