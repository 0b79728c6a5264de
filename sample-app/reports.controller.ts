import { Controller, Get, Req } from '@nestjs/common';
import { AllowApiKeyOr, CurrentApiKey, type ApiKey } from '../lib/index.js';
import { UserTokenGuard } from './user-token.guard.js';

/** Open to a valid API key OR a logged-in user (here, the stand-in user token). */
@Controller('reports')
export class ReportsController {
  @Get()
  @AllowApiKeyOr(UserTokenGuard)
  reports(
    @CurrentApiKey() apiKey: ApiKey | undefined,
    @Req() request: { user?: { name: string } },
  ) {
    const caller = apiKey
      ? { via: 'api-key', apiKey: { id: apiKey.id, name: apiKey.name, prefix: apiKey.prefix } }
      : { via: 'user-token', user: request.user?.name };
    return { ...caller, reports: [{ id: 'weekly', title: 'Weekly usage' }] };
  }
}
