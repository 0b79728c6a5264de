// The key admin page. Everything a key carries is put in the page as text (textContent), never
// as markup, so a key named <img src=x onerror=...> shows as those characters.
const app = document.getElementById('app');
const API = app.dataset.api;
const $ = (id) => document.getElementById(id);
const STATUS_LABELS = { active: 'Active', revoked: 'Revoked', expired: 'Expired' };
const state = { search: '', status: 'all', owner: '', sort: 'createdAt', order: 'desc', page: 1 };
const PAGE_SIZE = 20;
let listed = { items: [], total: 0, page: 1, pageSize: PAGE_SIZE };
let loads = 0;

/** Makes an element; `text` becomes its textContent, children are nodes or plain text. */
function el(tag, props = {}, ...children) {
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
async function api(method, path = '', body) {
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

function say(message) {
  $('error').textContent = '';
  $('notice').textContent = message;
}

function fail(error) {
  $('notice').textContent = '';
  $('error').textContent = error.message;
}

/** A local date-time without an offset is the browser's local time; other forms go as typed. */
function expiryValue(text) {
  const value = text.trim();
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$/.test(value)) {
    const date = new Date(value.replace(' ', 'T'));
    if (!Number.isNaN(date.getTime())) return date.toISOString();
  }
  return value === '' ? null : value;
}

function formatTime(iso, none) {
  if (!iso) return document.createTextNode(none);
  return el('time', { datetime: iso, title: iso, text: new Date(iso).toLocaleString() });
}

/** Shows field errors beside their fields (`prefix-field-error`), the rest in the alert. */
function showErrors(form, prefix, error) {
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

function clearErrors(form) {
  showErrors(form, '', { fields: {} });
}

// ---- the list ----

async function load() {
  const ticket = ++loads;
  const query = new URLSearchParams({
    status: state.status,
    sort: state.sort,
    order: state.order,
    page: String(state.page),
    pageSize: String(PAGE_SIZE),
  });
  if (state.search) query.set('search', state.search);
  if (state.owner) query.set('owner', state.owner);
  try {
    const data = await api('GET', `?${query}`);
    if (ticket !== loads) return; // a later search has been sent meanwhile
    listed = data;
    render();
  } catch (error) {
    fail(error);
  }
}

function render() {
  const owners = listed.ownerField === true;
  $('create-owner-field').hidden = !owners;
  $('owner-filter-field').hidden = !owners;
  document.querySelector('th.owner-column').hidden = !owners;
  const body = document.querySelector('#keys tbody');
  body.replaceChildren(...listed.items.map((key) => row(key, owners)));
  $('empty').hidden = listed.items.length > 0;
  const pages = Math.max(1, Math.ceil(listed.total / listed.pageSize));
  $('page-info').textContent =
    `Page ${listed.page} of ${pages} (${listed.total} ${listed.total === 1 ? 'key' : 'keys'})`;
  $('previous-page').disabled = listed.page <= 1;
  $('next-page').disabled = listed.page >= pages;
  for (const th of document.querySelectorAll('th[data-sort]')) {
    if (th.dataset.sort === state.sort)
      th.setAttribute('aria-sort', state.order === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
}

function cell(label, ...content) {
  return el('td', { 'data-label': label }, ...content);
}

function row(key, owners) {
  const actions = [];
  if (key.status === 'active') {
    actions.push(
      button('Edit', () => openEdit(key)),
      button('Rotate', () => openRotate(key)),
      button('Revoke', () => openRevoke(key), 'danger'),
    );
  }
  const cells = [
    cell(
      'Status',
      el('span', { className: `badge ${key.status}`, text: STATUS_LABELS[key.status] }),
    ),
    cell('Prefix', el('code', { text: key.prefix })),
    cell('Name', key.name),
    cell('Scopes', key.scopes.length > 0 ? key.scopes.join(', ') : 'None'),
    cell('Created', formatTime(key.createdAt, '')),
    cell('Expires', formatTime(key.expiresAt, 'Never')),
    cell('Last used', formatTime(key.lastUsedAt, 'Never')),
  ];
  if (owners) cells.push(cell('Owner', key.owner ?? ''));
  cells.push(cell('Actions', el('div', { className: 'row-actions' }, ...actions)));
  return el('tr', { 'data-id': key.id }, ...cells);
}

function button(label, onClick, className = '') {
  const node = el('button', { type: 'button', className, text: label });
  node.addEventListener('click', onClick);
  return node;
}

// ---- creating, and showing a new key once ----

function showNewKey(key) {
  $('new-key').hidden = false;
  const input = $('new-key-value');
  input.value = key;
  input.focus();
  input.select();
}

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = {
    name: $('create-name').value,
    scopes: $('create-scopes').value,
    expiresAt: expiryValue($('create-expiresAt').value),
  };
  if (!$('create-owner-field').hidden) body.owner = $('create-owner').value;
  try {
    const created = await api('POST', '', body);
    clearErrors(form);
    form.reset();
    say(`Created key ${created.apiKey.name} (${created.apiKey.prefix}).`);
    showNewKey(created.key);
    await load();
  } catch (error) {
    showErrors(form, 'create', error);
  }
});

$('copy').addEventListener('click', async () => {
  const input = $('new-key-value');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  say('Copied the key to the clipboard.');
});

$('new-key-done').addEventListener('click', () => {
  $('new-key-value').value = '';
  $('new-key').hidden = true;
  $('create-name').focus();
});

// ---- dialogs: revoke, rotate, edit ----

let current = null;

for (const dialog of document.querySelectorAll('dialog')) {
  dialog.addEventListener('click', (event) => {
    if (event.target.closest('[data-close]')) dialog.close();
  });
}

function openRevoke(key) {
  current = key;
  $('revoke-text').textContent = `Revoke ${key.name} (${key.prefix})?`;
  $('revoke-dialog').showModal();
}

function openRotate(key) {
  current = key;
  $('rotate-text').textContent = `Rotate ${key.name} (${key.prefix})?`;
  $('rotate-dialog').showModal();
}

$('revoke-confirm').addEventListener('click', async () => {
  try {
    const revoked = await api('POST', `/${encodeURIComponent(current.id)}/revoke`);
    $('revoke-dialog').close();
    say(`Revoked key ${revoked.name} (${revoked.prefix}).`);
    await load();
    $('keys-heading').focus();
  } catch (error) {
    $('revoke-dialog').close();
    fail(error);
  }
});

$('rotate-confirm').addEventListener('click', async () => {
  const gracePeriod = Number($('grace-period').value);
  try {
    const rotated = await api('POST', `/${encodeURIComponent(current.id)}/rotate`, { gracePeriod });
    $('rotate-dialog').close();
    const until =
      rotated.previous.status === 'active'
        ? ` until ${new Date(rotated.previous.expiresAt).toLocaleString()}`
        : ' no more';
    say(
      `Rotated key ${rotated.apiKey.name}: new prefix ${rotated.apiKey.prefix}; the old key works${until}.`,
    );
    showNewKey(rotated.key);
    await load();
  } catch (error) {
    $('rotate-dialog').close();
    fail(error);
  }
});

function openEdit(key) {
  current = key;
  const dialog = $('edit-dialog');
  // Built from the template on each opening, so its fields exist only while it is open.
  dialog.replaceChildren($('edit-template').content.cloneNode(true));
  $('edit-name').value = key.name;
  $('edit-scopes').value = key.scopes.join(', ');
  $('edit-expiresAt').value = key.expiresAt ?? '';
  dialog.querySelector('form').addEventListener('submit', saveEdit);
  dialog.showModal();
}

async function saveEdit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const body = { name: $('edit-name').value, scopes: $('edit-scopes').value };
  const expiry = expiryValue($('edit-expiresAt').value);
  if (expiry !== current.expiresAt) body.expiresAt = expiry;
  try {
    const updated = await api('PATCH', `/${encodeURIComponent(current.id)}`, body);
    $('edit-dialog').close();
    say(`Saved key ${updated.name} (${updated.prefix}).`);
    await load();
  } catch (error) {
    showErrors(form, 'edit', error);
  }
}

$('edit-dialog').addEventListener('close', () => $('edit-dialog').replaceChildren());

// ---- search, filters, sorting, paging ----

let typing = 0;
$('search').addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    state.search = $('search').value.trim();
    state.page = 1;
    load();
  }, 250);
});

$('owner-filter').addEventListener('change', () => {
  state.owner = $('owner-filter').value.trim();
  state.page = 1;
  load();
});

$('status').addEventListener('change', () => {
  state.status = $('status').value;
  state.page = 1;
  load();
});

for (const th of document.querySelectorAll('th[data-sort]')) {
  th.querySelector('button').addEventListener('click', () => {
    const sort = th.dataset.sort;
    state.order = state.sort === sort && state.order === 'desc' ? 'asc' : 'desc';
    state.sort = sort;
    state.page = 1;
    load();
  });
}

$('previous-page').addEventListener('click', () => {
  state.page = Math.max(1, state.page - 1);
  load();
});
$('next-page').addEventListener('click', () => {
  state.page += 1;
  load();
});

load();
