import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { apiKeySwaggerUiOptions, createApiKeyDocument } from '../lib/swagger/index.js';
import { UserTokenGuard } from './user-token.guard.js';

/** Serves Swagger UI at `/docs` and the OpenAPI document at `/docs-json`, read from the guards. */
export function setupSampleDocs(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('nestjs-api-key sample app')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'The stand-in user token.' })
    .build();
  const document = createApiKeyDocument(app, config, {
    alternativeSchemes: new Map([[UserTokenGuard, 'bearer']]),
  });
  SwaggerModule.setup('docs', app, document, apiKeySwaggerUiOptions());
}
