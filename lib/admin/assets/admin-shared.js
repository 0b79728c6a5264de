// What every part of the key admin page uses: building elements, calling the management API,
// and showing messages and field errors. Everything a key carries is put in the page as text
// (textContent), never as markup, so a key named <img src=x onerror=...> shows as those characters.
const API = document.getElementById('app').dataset.api;

export const $ = (id) => document.getElementById(id);

/** Makes an element; `text` becomes its textContent, children are nodes or plain text. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'text') node.textContent = value;
    else if (name === 'className') node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** Calls the management API; a failure throws with the server's message and field errors. */
export async function api(method, path = '', body) {
  const headers = { Accept: 'application/json' };
  // The same-origin proof the API asks of every change: a cross-site form cannot send it.
  if (method !== 'GET') headers['X-Requested-With'] = 'XMLHttpRequest';
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = Array.isArray(data?.message) ? data.message.join(' ') : data?.message;
    const error = new Error(message || `The server answered ${response.status}.`);
    error.fields = data?.fields ?? {};
    throw error;
  }
  return data;
}

export function say(message) {
  $('error').textContent = '';
  $('notice').textContent = message;
}

export function fail(error) {
  $('notice').textContent = '';
  $('error').textContent = error.message;
}

/** A local date-time without an offset is the browser's local time; other forms go as typed. */
export function expiryValue(text) {
  const value = text.trim();
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$/.test(value)) {
    const date = new Date(value.replace(' ', 'T'));
    if (!Number.isNaN(date.getTime())) return date.toISOString();
  }
  return value === '' ? null : value;
}

export function formatTime(iso, none) {
  if (!iso) return document.createTextNode(none);
  return el('time', { datetime: iso, title: iso, text: new Date(iso).toLocaleString() });
}

/** Shows field errors beside their fields (`prefix-field-error`), the rest in the alert. */
export function showErrors(form, prefix, error) {
  for (const node of form.querySelectorAll('.field-error')) node.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]'))
    input.removeAttribute('aria-invalid');
  let first = null;
  for (const [field, message] of Object.entries(error.fields ?? {})) {
    const input = form.querySelector(`#${prefix}-${field}`);
    if (!input) continue;
    input.setAttribute('aria-invalid', 'true');
    form.querySelector(`#${prefix}-${field}-error`).textContent = message;
    first ??= input;
  }
  if (first) {
    $('error').textContent = '';
    first.focus();
  } else fail(error);
}

export function clearErrors(form) {
  showErrors(form, '', { fields: {} });
}

/** Shows a new key, selected for copying: the only time the page ever has it. */
export function showNewKey(key) {
  $('new-key').hidden = false;
  const input = $('new-key-value');
  input.value = key;
  input.focus();
  input.select();
}
