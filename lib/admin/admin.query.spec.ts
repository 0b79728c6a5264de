import { describe, expect, it } from 'vitest';
import { ApiKeyAdminBadRequest } from './admin.errors.js';
import { parseListQuery } from './admin.query.js';

describe('parseListQuery', () => {
  it('has defaults for every parameter', () => {
    expect(parseListQuery()).toEqual({
      search: '',
      status: 'all',
      owner: null,
      sort: 'createdAt',
      order: 'DESC',
      page: 1,
      pageSize: 20,
    });
  });

  it('reads each parameter', () => {
    expect(
      parseListQuery({
        search: '  ci ',
        status: 'revoked',
        owner: 'p-1',
        sort: 'lastUsedAt',
        order: 'asc',
        page: '3',
        pageSize: '100',
      }),
    ).toEqual({
      search: 'ci',
      status: 'revoked',
      owner: 'p-1',
      sort: 'lastUsedAt',
      order: 'ASC',
      page: 3,
      pageSize: 100,
    });
  });

  it.each([
    ['status', 'gone'],
    ['sort', 'hashedKey'],
    ['order', 'ASC'],
    ['page', '0'],
    ['page', '1.5'],
    ['page', '1e3'],
    ['pageSize', '101'],
    ['search', 'x'.repeat(101)],
    ['search', ['a', 'b']],
    ['owner', ['a', 'b']],
  ])('refuses %s=%j, naming it', (name, value) => {
    let thrown: unknown;
    try {
      parseListQuery({ [name]: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiKeyAdminBadRequest);
    expect((thrown as ApiKeyAdminBadRequest).getResponse()).toMatchObject({
      fields: { [name]: expect.any(String) },
    });
  });
});
