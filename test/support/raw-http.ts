import { connect } from 'node:net';
import type { Server } from 'node:http';

/** A response read off the wire by `rawRequest()`. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  /** The body exactly as sent, decoded as UTF-8. */
  text: string;
  /** The body parsed as JSON, or the text when it is not JSON. */
  body: any;
}

/**
 * Sends one HTTP/1.1 request over a plain TCP socket, writing each header line byte for byte.
 * `fetch()` and `node:http` refuse control characters, trim values and merge repeated headers;
 * an attacker's client does none of that, so hostile-input tests talk to the socket directly.
 *
 * @param url the app's base URL plus path, e.g. `http://127.0.0.1:1234/projects`
 * @param headers header lines in order; a name may repeat, a value may hold any bytes
 */
export function rawRequest(
  url: string,
  headers: Array<[string, string | Buffer]>,
  method = 'GET',
): Promise<RawAnswer> {
  const { hostname, port, pathname, search } = new URL(url);
  const head = Buffer.concat([
    Buffer.from(
      `${method} ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n`,
      'latin1',
    ),
    ...headers.flatMap(([name, value]) => [
      Buffer.from(`${name}: `, 'latin1'),
      Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'),
      Buffer.from('\r\n'),
    ]),
    Buffer.from('\r\n'),
  ]);
  return new Promise((resolve, reject) => {
    // write, not end: a half-closed socket lets some servers drop the request before answering.
    const socket = connect(Number(port), hostname, () => socket.write(head));
    const chunks: Buffer[] = [];
    // A server that never answers must fail the test, not hang it.
    socket.setTimeout(15_000, () => socket.destroy(new Error(`no answer from ${url} within 15 s`)));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A server that refuses a request before reading all of it may close with the rest unread,
      // which resets the connection after its answer: Node 24 and later do so after a 431 for an
      // oversized header (Node 20 and 22 close cleanly). The answer arrived: 'close' reads it.
      if (error.code !== 'ECONNRESET' || !hasResponseHead(chunks)) reject(error);
    });
    socket.on('close', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** Whether the bytes read so far hold a whole status line and header block. */
function hasResponseHead(chunks: Buffer[]): boolean {
  return Buffer.concat(chunks).includes('\r\n\r\n');
}

function parseResponse(raw: Buffer): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0)
    throw new Error(
      `not an HTTP response: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`,
    );
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!status) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let payload = raw.subarray(end + 4);
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') payload = dechunk(payload);
  const text = payload.toString('utf8');
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status, headers, text, body };
}

function dechunk(payload: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = payload.indexOf('\r\n', at);
    const size = parseInt(payload.subarray(at, lineEnd).toString('latin1'), 16);
    if (!size) return Buffer.concat(parts);
    parts.push(payload.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/**
 * Runs `run` while `server` parses as `node --insecure-http-parser --max-http-header-size=1048576`
 * would: both are read per connection from the server, so the app need not be rebooted to
 * behave as if run so. The strict defaults are back when `run` settles.
 */
export async function withLenientParser<T>(server: Server, run: () => Promise<T>): Promise<T> {
  const lenient = server as Server & { insecureHTTPParser?: boolean; maxHeaderSize?: number };
  lenient.insecureHTTPParser = true;
  lenient.maxHeaderSize = 1024 * 1024;
  try {
    return await run();
  } finally {
    lenient.insecureHTTPParser = false;
    lenient.maxHeaderSize = undefined;
  }
}
