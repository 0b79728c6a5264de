import { Controller, Get, Header } from '@nestjs/common';
import { register } from 'prom-client';

/**
 * Prometheus metrics in the text format, open like `/health`: prom-client's global registry,
 * where `ApiKeyMetricsModule` registers `api_key_verifications_total` and the cold-path gauge.
 */
@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }
}
