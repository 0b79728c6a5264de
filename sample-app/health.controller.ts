import { Controller, Get } from '@nestjs/common';

/** Open to everyone: no guard. */
@Controller('health')
export class HealthController {
  @Get()
  health() {
    return { status: 'ok' };
  }
}
