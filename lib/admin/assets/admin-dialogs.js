// The key admin page's dialogs: revoke and rotate behind a confirmation, and edit.
import { $, api, expiryValue, fail, say, showErrors, showNewKey } from './admin-shared.js';

/** The key the open dialog acts on. */
let current = null;
/** Reloads the list after a change. */
let reload = async () => {};

for (const dialog of document.querySelectorAll('dialog')) {
  dialog.addEventListener('click', (event) => {
    if (event.target.closest('[data-close]')) dialog.close();
  });
}

/** Sets what runs once a dialog has changed a key: the list's reload. */
export function afterKeyChange(callback) {
  reload = callback;
}

export function openRevoke(key) {
  current = key;
  $('revoke-text').textContent = `Revoke ${key.name} (${key.prefix})?`;
  $('revoke-dialog').showModal();
}

/** Suspends or resumes a key at once: both are undone by the other button. */
export async function setDisabled(key, disabled) {
  const action = disabled ? 'disable' : 'enable';
  try {
    const changed = await api('POST', `/${encodeURIComponent(key.id)}/${action}`);
    say(`${disabled ? 'Disabled' : 'Enabled'} key ${changed.name} (${changed.prefix}).`);
    await reload();
  } catch (error) {
    fail(error);
  }
}

export function openRotate(key) {
  current = key;
  $('rotate-text').textContent = `Rotate ${key.name} (${key.prefix})?`;
  $('rotate-dialog').showModal();
}

$('revoke-confirm').addEventListener('click', async () => {
  try {
    const revoked = await api('POST', `/${encodeURIComponent(current.id)}/revoke`);
    $('revoke-dialog').close();
    say(`Revoked key ${revoked.name} (${revoked.prefix}).`);
    await reload();
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
    await reload();
  } catch (error) {
    $('rotate-dialog').close();
    fail(error);
  }
});

/**
 * The create form's name, scopes and expiry fields (`data-key-field`), for the edit form: one
 * markup for both, its ids, labels and descriptions renamed from `create-` to `edit-`, without
 * the errors the create form may be showing.
 */
function keyFields() {
  const fields = [...document.querySelectorAll('#create-form [data-key-field]')].map((field) =>
    field.cloneNode(true),
  );
  for (const node of fields.flatMap((field) => [field, ...field.querySelectorAll('*')])) {
    node.removeAttribute('aria-invalid');
    if (node.classList.contains('field-error')) node.textContent = '';
    for (const name of ['id', 'for', 'aria-describedby']) {
      const value = node.getAttribute(name);
      if (value) node.setAttribute(name, value.replaceAll('create-', 'edit-'));
    }
  }
  return fields;
}

export function openEdit(key) {
  current = key;
  const dialog = $('edit-dialog');
  // Built on each opening, so its fields exist only while it is open.
  dialog.replaceChildren($('edit-template').content.cloneNode(true));
  const form = dialog.querySelector('form');
  form.querySelector('.actions').before(...keyFields());
  $('edit-name').value = key.name;
  $('edit-scopes').value = key.scopes.join(', ');
  $('edit-expiresAt').value = key.expiresAt ?? '';
  $('edit-allowedIps').value = key.allowedIps ? key.allowedIps.join(', ') : '';
  $('edit-remaining').value = key.remaining ?? '';
  form.addEventListener('submit', saveEdit);
  dialog.showModal();
}

async function saveEdit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const body = { name: $('edit-name').value, scopes: $('edit-scopes').value };
  const expiry = expiryValue($('edit-expiresAt').value);
  if (expiry !== current.expiresAt) body.expiresAt = expiry;
  // Sent only when changed: an owner may keep a key's credits without being allowed to set them.
  const allowedIps = $('edit-allowedIps').value.trim();
  if (allowedIps !== (current.allowedIps ?? []).join(', ')) body.allowedIps = allowedIps;
  const remaining = $('edit-remaining').value.trim();
  if (remaining !== String(current.remaining ?? '')) body.remaining = remaining;
  try {
    const updated = await api('PATCH', `/${encodeURIComponent(current.id)}`, body);
    $('edit-dialog').close();
    say(`Saved key ${updated.name} (${updated.prefix}).`);
    await reload();
  } catch (error) {
    showErrors(form, 'edit', error);
  }
}

$('edit-dialog').addEventListener('close', () => $('edit-dialog').replaceChildren());
