import { BadRequestException, Body, Controller, Get, Post, UseGuards } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApiKeyGuard, CurrentApiKey, RequireScopes, type ApiKey } from '../lib/index.js';

const DEMO_PROJECTS = [
  { id: 'apollo', name: 'Apollo' },
  { id: 'gemini', name: 'Gemini' },
];

/** Every route needs a valid key of the default type; creating a project also needs `projects:write`. */
@Controller('projects')
@UseGuards(ApiKeyGuard)
export class ProjectsController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return {
      apiKey: { id: apiKey.id, name: apiKey.name, prefix: apiKey.prefix },
      projects: DEMO_PROJECTS,
    };
  }

  /** @throws {BadRequestException} when `name` is given but is not a short string */
  @Post()
  @RequireScopes('projects:write')
  create(@CurrentApiKey() apiKey: ApiKey, @Body() body: { name?: unknown } | undefined) {
    const name = body?.name ?? 'Untitled';
    if (typeof name !== 'string' || name.length === 0 || name.length > 100) {
      throw new BadRequestException('name must be a string of 1 to 100 characters.');
    }
    // The sample keeps no project table: it answers as if the project had been stored.
    return {
      project: { id: randomUUID(), name },
      createdBy: { id: apiKey.id, name: apiKey.name, prefix: apiKey.prefix },
    };
  }
}
