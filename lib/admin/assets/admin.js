// The key admin page: the list of keys with its search, filters, sorting and paging, and the
// form that creates a key. Its dialogs are in admin-dialogs.js, what both use in admin-shared.js.
import { afterKeyChange, openEdit, openRevoke, openRotate, setDisabled } from './admin-dialogs.js';
import {
  $,
  api,
  clearErrors,
  el,
  expiryValue,
  fail,
  formatTime,
  say,
  showErrors,
  showNewKey,
} from './admin-shared.js';
import { fillRowUsage, loadBusiest, openUsage } from './admin-usage.js';

const STATUS_LABELS = {
  active: 'Active',
  revoked: 'Revoked',
  expired: 'Expired',
  disabled: 'Disabled',
};
const state = { search: '', status: 'all', owner: '', sort: 'createdAt', order: 'desc', page: 1 };
const PAGE_SIZE = 20;
let listed = { items: [], total: 0, page: 1, pageSize: PAGE_SIZE };
let loads = 0;

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
      button('Disable', () => setDisabled(key, true)),
      button('Revoke', () => openRevoke(key), 'danger'),
    );
  }
  if (key.status === 'disabled') {
    actions.push(
      button('Edit', () => openEdit(key)),
      button('Enable', () => setDisabled(key, false)),
      button('Revoke', () => openRevoke(key), 'danger'),
    );
  }
  actions.push(button('Usage', () => openUsage(key)));
  const status = cell(
    'Status',
    el('span', { className: `badge ${key.status}`, text: STATUS_LABELS[key.status] }),
  );
  const usage = cell('Requests, 14 days');
  void fillRowUsage(key, usage, status);
  const cells = [
    status,
    cell('Prefix', el('code', { text: key.prefix })),
    cell('Name', key.name),
    cell('Scopes', key.scopes.length > 0 ? key.scopes.join(', ') : 'None'),
    cell('Created', formatTime(key.createdAt, '')),
    cell('Expires', formatTime(key.expiresAt, 'Never')),
    cell('Last used', formatTime(key.lastUsedAt, 'Never')),
    cell('Credits', credits(key)),
  ];
  if (owners) cells.push(cell('Owner', key.owner ?? ''));
  cells.push(usage);
  cells.push(cell('Actions', el('div', { className: 'row-actions' }, ...actions)));
  return el('tr', { 'data-id': key.id }, ...cells);
}

/** What is left of a key's credits, and its refill: "Unlimited", "42", "42 (100/day)". */
function credits(key) {
  if (key.remaining === null || key.remaining === undefined) return 'Unlimited';
  const refill = key.refillAmount ? ` (${key.refillAmount}/${key.refillInterval})` : '';
  return `${key.remaining}${refill}`;
}

function button(label, onClick, className = '') {
  const node = el('button', { type: 'button', className, text: label });
  node.addEventListener('click', onClick);
  return node;
}

// ---- creating, and showing a new key once ----

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = {
    name: $('create-name').value,
    scopes: $('create-scopes').value,
    expiresAt: expiryValue($('create-expiresAt').value),
  };
  // Left out when empty: no policy, and owners who may not set credits can still create keys.
  for (const field of ['allowedIps', 'remaining']) {
    const value = $(`create-${field}`).value.trim();
    if (value !== '') body[field] = value;
  }
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

afterKeyChange(load);
load();
loadBusiest();
