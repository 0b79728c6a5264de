/**
 * How the guard puts a verified key on `request.apiKey` without giving the request a new
 * property.
 *
 * Adding a property to an Express request changes its hidden class, and Express's requests do
 * not share hidden classes, so V8 builds a new one for every request: in the bench app that cost
 * 23,000 instructions per request (counted with callgrind), as much as all the guard's other
 * work. So, for a request whose prototype is a class's or a framework's (Express's
 * `app.request`, Fastify's request class), `apiKey` is declared once on that prototype as an
 * accessor over a WeakMap: reading and assigning `request.apiKey` work as on a property, and
 * the entry goes when the request does. It is not an own property (`Object.keys(request)` does
 * not list it), and `delete request.apiKey` leaves it.
 */
import { API_KEY_REQUEST_PROPERTY } from '../api-key.constants.js';

/** The value of `apiKey` of each request whose prototype carries the accessor. */
const keysByRequest = new WeakMap<object, unknown>();

/** Prototypes met so far, and whether `apiKey` is the accessor over `keysByRequest` on them. */
const accessorOn = new WeakMap<object, boolean>();

/** The accessor declared on request prototypes. */
const ACCESSOR: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object): unknown {
    return keysByRequest.get(this);
  },
  set(this: object, value: unknown): void {
    keysByRequest.set(this, value);
  },
};

/**
 * Declares the accessor on `prototype` if that is safe: never on `Object.prototype` (every plain
 * object would get it) nor where `apiKey` already means something (a Fastify `decorateRequest`,
 * a property of the user's own) or cannot be added.
 */
function declareAccessor(prototype: object): boolean {
  if (prototype === Object.prototype) return false;
  if (API_KEY_REQUEST_PROPERTY in prototype) return inheritsAccessor(prototype);
  if (!Object.isExtensible(prototype)) return false;
  Object.defineProperty(prototype, API_KEY_REQUEST_PROPERTY, ACCESSOR);
  return true;
}

/** Whether `apiKey` on `prototype` is the accessor, declared on it or on one it inherits from. */
function inheritsAccessor(prototype: object): boolean {
  for (
    let holder: object | null = prototype;
    holder !== null;
    holder = Object.getPrototypeOf(holder)
  ) {
    const own = Object.getOwnPropertyDescriptor(holder, API_KEY_REQUEST_PROPERTY);
    if (own) return own.get === ACCESSOR.get;
  }
  return false;
}

/** Whether `apiKey` is the accessor on `prototype`, declaring it the first time one is met. */
function carriesAccessor(prototype: object): boolean {
  let carries = accessorOn.get(prototype);
  if (carries === undefined) {
    carries = declareAccessor(prototype);
    accessorOn.set(prototype, carries);
  }
  return carries;
}

/**
 * Sets `request.apiKey` to `apiKey`: through the accessor on the request's prototype where it
 * is (or can be) declared, as an own property otherwise (a plain object such as a socket.io
 * handshake, or a request that got an own `apiKey` before the accessor was declared).
 */
export function putApiKeyOnRequest(request: object, apiKey: unknown): void {
  const prototype: object | null = Object.getPrototypeOf(request);
  if (
    prototype !== null &&
    carriesAccessor(prototype) &&
    !Object.hasOwn(request, API_KEY_REQUEST_PROPERTY)
  )
    keysByRequest.set(request, apiKey);
  else (request as Record<string, unknown>)[API_KEY_REQUEST_PROPERTY] = apiKey;
}
