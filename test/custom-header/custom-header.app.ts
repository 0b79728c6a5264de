import {
  Controller,
  Get,
  Inject,
  Injectable,
  Module,
  UseGuards,
  type DynamicModule,
  type ExecutionContext,
} from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  CurrentApiKey,
  type ApiKey,
  type ApiKeyFailureReason,
} from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';

/** Why each refused request was refused, in order, as the guard saw it. */
@Injectable()
export class DenialLog {
  readonly reasons: Array<ApiKeyFailureReason | 'missing'> = [];
}

/**
 * The stock guard, through its documented extension point, noting each refusal's reason, so
 * the test can tell "no key at all" from "a key that failed" although both answer the same 401.
 */
@Injectable()
export class RecordingApiKeyGuard extends ApiKeyGuard {
  @Inject(DenialLog) private readonly denials!: DenialLog;

  protected override denyUnauthorized(
    context: ExecutionContext,
    reason: ApiKeyFailureReason | 'missing',
  ): boolean {
    this.denials.reasons.push(reason);
    return super.denyUnauthorized(context, reason);
  }
}

@Controller('reports')
@UseGuards(RecordingApiKeyGuard)
export class ReportsController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }
}

/** Keys are read raw from `X-Api-Key`; `Authorization` is not looked at. */
@Module({})
export class CustomHeaderAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: CustomHeaderAppModule,
      imports: [
        typeOrmFor(database),
        // The hasher is not under test here; cost 4 keeps the suite fast.
        ApiKeyModule.forRoot({ header: 'X-Api-Key', hasher: FAST_BCRYPT }),
      ],
      controllers: [ReportsController],
      providers: [DenialLog],
    };
  }
}
