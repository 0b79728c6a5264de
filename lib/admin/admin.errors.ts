import { BadRequestException } from '@nestjs/common';

/**
 * A 400 naming the field at fault: `{ statusCode, error, message, fields: { [field]: message } }`,
 * with the owner-policy `rule` it breaks, if one.
 *
 * @publicApi
 */
export class ApiKeyAdminBadRequest extends BadRequestException {
  constructor(field: string, message: string, rule?: string) {
    super({
      statusCode: 400,
      error: 'Bad Request',
      message: `${field}: ${message}`,
      fields: { [field]: message },
      ...(rule ? { rule } : {}),
    });
  }
}
