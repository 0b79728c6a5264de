import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { SECRET_SCANNING_OPTIONS, type SecretScanningOptions } from './secret-scanning.options.js';

/** Largest report read by default, in bytes. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A report's body as the endpoint read it: its bytes, or `null` when it was over the limit. */
export type ReportBody = Buffer | null;

/** Where the body read is kept on the Node request, until the controller takes it. */
const REPORT_BODY = Symbol('secret-scanning report body');

/** A Node request that may carry a report's body. */
type WithReportBody = IncomingMessage & { [REPORT_BODY]?: ReportBody };

/**
 * The body the reader kept for `request` (Express's request or Fastify's, whose Node request is
 * `raw`), or `undefined` when it did not read it.
 */
export function reportBodyOf(request: { raw?: unknown }): ReportBody | undefined {
  return ((request.raw ?? request) as WithReportBody)[REPORT_BODY];
}

/**
 * Reads a whole stream, keeping at most `max` bytes: beyond, the rest is read and dropped (so
 * the connection stays usable and nothing else tries to parse it) and the result is `null`.
 */
export function readBounded(stream: Readable, max: number): Promise<ReportBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    stream.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      length += bytes.length;
      if (length <= max) chunks.push(bytes);
      else chunks.length = 0;
    });
    stream.once('end', () => resolve(length <= max ? Buffer.concat(chunks, length) : null));
    stream.once('error', reject);
  });
}

/**
 * Reads the endpoint's requests' raw bodies itself, up to `maxBodyBytes`, before the app's body
 * parsers see them: a signed report must be checked over its exact bytes, and GitHub's batches
 * are larger than Express's default 100 KB JSON limit. Other requests are left alone.
 *
 * It hooks in once the app has set up its parsers: first in Express's middleware stack, and as a
 * Fastify `preParsing` hook (after which Fastify has no body left to parse).
 */
@Injectable()
export class SecretScanningBodyReader implements OnModuleInit {
  private path: string | null = null;

  constructor(
    @Inject(SECRET_SCANNING_OPTIONS) private readonly options: SecretScanningOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ApplicationConfig,
  ) {}

  /** Hooks into the HTTP adapter, if the app has one (not in a standalone context). */
  onModuleInit(): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (!adapter) return;
    const instance = adapter.getInstance();
    if (adapter.getType() === 'fastify') this.hookFastify(instance);
    else if (adapter.getType() === 'express') this.hookExpress(instance);
  }

  /** Whether a request is a report: a POST to the endpoint's path, under the global prefix. */
  isReport(method: string | undefined, url: string | undefined): boolean {
    // Read at the first request: the global prefix may be set after the module is built.
    this.path ??= normalizedPath(
      `${this.config.getGlobalPrefix()}/${this.options.path ?? 'secret-scanning'}`,
    );
    return method === 'POST' && normalizedPath(String(url ?? '').split('?')[0]) === this.path;
  }

  private get maxBytes(): number {
    return this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  private hookExpress(app: any): void {
    app.use(
      async (request: WithReportBody, _response: unknown, next: (error?: unknown) => void) => {
        if (!this.isReport(request.method, request.url)) return next();
        try {
          request[REPORT_BODY] = await readBounded(request, this.maxBytes);
          // The stream is finished: Express's (and Nest's raw-body) parsers now skip the request.
          next();
        } catch (error) {
          next(error);
        }
      },
    );
    // Express runs middleware in order, and the parsers were added first: go before them.
    const stack: unknown[] | undefined = app.router?.stack;
    if (Array.isArray(stack)) stack.unshift(stack.pop());
  }

  private hookFastify(fastify: any): void {
    fastify.addHook('preParsing', async (request: any, _reply: unknown, payload: Readable) => {
      if (!this.isReport(request.raw.method, request.raw.url)) return payload;
      request.raw[REPORT_BODY] = await readBounded(payload, this.maxBytes);
      // Nothing is left to parse: tell Fastify the body is empty, so no parser (nor its own
      // bodyLimit, nor a missing parser for the content type) stands between GitHub and the check.
      const headers = request.raw.headers as Record<string, unknown>;
      delete headers['content-type'];
      delete headers['transfer-encoding'];
      headers['content-length'] = '0';
      return payload;
    });
  }
}

/** A route path compared as routers do: no repeated, leading or trailing slashes, any case. */
function normalizedPath(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '')
    .join('/')
    .toLowerCase();
}
