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
import { reportBodyOf, SecretScanningBodyReader } from './secret-scanning.body.js';
import { SecretScanningHandler } from './secret-scanning.handler.js';
import { SECRET_SCANNING_OPTIONS, type SecretScanningOptions } from './secret-scanning.options.js';
import type { SecretScanningLabel } from './secret-scanning.report.js';

/** The endpoint's controller, at `path`, skipping the API key guards `skip` names. */
function secretScanningController(
  path: string,
  skip: SecretScanningOptions['skipApiKey'],
): Type<unknown> {
  @Controller(path)
  class SecretScanningController {
    constructor(@Inject(SecretScanningHandler) private readonly handler: SecretScanningHandler) {}

    @Post()
    @HttpCode(200)
    report(
      @Req() request: { rawBody?: Buffer; raw?: unknown },
      @Headers('github-public-key-identifier') identifier: unknown,
      @Headers('github-public-key-signature') signature: unknown,
    ): Promise<SecretScanningLabel[]> {
      // The reader's copy (null when too large); Nest's rawBody only where the reader did not run.
      const read = reportBodyOf(request);
      return this.handler.handle(
        read === undefined ? request.rawBody : read,
        identifier,
        signature,
      );
    }
  }
  // GitHub signs its reports instead of sending a key; the boot check refuses a needless skip.
  if (skip === true) SkipApiKey()(SecretScanningController);
  else if (Array.isArray(skip) && skip.length > 0) SkipApiKey(...skip)(SecretScanningController);
  return SecretScanningController;
}

/**
 * GitHub's secret-scanning partner endpoint for this app's keys. It reads its requests' raw
 * bodies itself, up to `maxBodyBytes`, whatever the app's body-parser settings, on Express and
 * Fastify alike.
 *
 * @publicApi
 */
@Module({})
export class SecretScanningModule {
  /** Mounts `POST /<path>` (default `/secret-scanning`). */
  static forRoot(options: SecretScanningOptions = {}): DynamicModule {
    return {
      module: SecretScanningModule,
      controllers: [
        secretScanningController(options.path ?? 'secret-scanning', options.skipApiKey),
      ],
      providers: [
        { provide: SECRET_SCANNING_OPTIONS, useValue: options },
        SecretScanningHandler,
        SecretScanningBodyReader,
      ],
      exports: [SecretScanningHandler],
    };
  }
}
