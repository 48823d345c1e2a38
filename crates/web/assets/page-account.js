// The account: the exchange keys per venue (the secret is sent once and never shown again), the
// paper account's balances and reset, and the notifications (page-notifications.js).

import { api } from './api.js';
import { el, field, onSubmit, setTitle, show, utc } from './dom.js';
import { requireSession } from './session.js';
import { venueBalances } from './page-portfolio.js';
import { notificationsPanel } from './page-notifications.js';

function keyPanel(venue, refresh) {
  const panel = el('section', { class: 'panel', 'data-venue': venue }, el('h2', {}, `${venue} key`));
  const suffix = `-${venue}`;
  const form = el('form', { class: 'key-form', id: `key-form-${venue}`, 'data-suffix': suffix, novalidate: true },
    el('p', { class: 'form-error error', role: 'alert' }),
    field('api_key', 'API key', el('input', { autocomplete: 'off', required: true }), suffix),
    field('api_secret', 'Secret (HMAC key)', el('input', { type: 'password', autocomplete: 'off' }), suffix),
    field('private_key', 'or private key (Ed25519, PEM)', el('textarea', { rows: 3, autocomplete: 'off' }), suffix),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Verify and store the key')));
  onSubmit(form, async (data) => {
    const body = { api_key: data.get('api_key').trim() };
    if (data.get('api_secret')) body.api_secret = data.get('api_secret');
    if (data.get('private_key').trim()) body.private_key = data.get('private_key');
    await api.call('PUT', `/api/v1/credentials/${venue}`, body);
    form.reset();
    refresh();
  });
  // Shows `stored`, the venue's key from GET /api/v1/venues (null when none is stored).
  const load = (stored) => {
    const remove = el('button', {
      type: 'button', class: 'danger', 'data-action': 'delete-key',
      onclick: async () => {
        if (!confirm(`Delete the ${venue} key? The ${venue} bots pause until a new one is stored.`)) return;
        try { await api.del(`/api/v1/credentials/${venue}`); } catch (error) { alert(error.message); }
        refresh();
      },
    }, 'Delete the key');
    const facts = stored
      ? el('dl', { class: 'summary' }, [
        ['Key', stored.api_key_prefix], ['Type', stored.key_type], ['Stored', utc(stored.set_at_ms)],
        ['Verified', utc(stored.verified_at_ms)], ['Can trade', stored.can_trade === null ? '—' : stored.can_trade ? 'yes' : 'no'],
        ['Permissions', stored.permissions.join(', ') || '—'],
      ].map(([name, value]) => el('div', {}, el('dt', {}, name), el('dd', {}, value))))
      : el('p', { class: 'notice' }, `No ${venue} key: store one to run ${venue} bots.`);
    form.querySelector('button[type="submit"]').textContent = stored ? 'Replace the key' : 'Verify and store the key';
    const actions = stored ? [el('div', { class: 'actions' }, remove)] : [];
    panel.replaceChildren(el('h2', {}, `${venue} key`), facts, ...actions, form);
  };
  return { panel, load };
}

async function paperPanel() {
  const panel = el('section', { class: 'panel', id: 'paper' });
  const load = async () => {
    const reset = el('button', {
      type: 'button', class: 'danger', id: 'paper-reset',
      onclick: async () => {
        if (!confirm('Reset the paper account to its starting balances? Paper bots keep running from a flat position.')) return;
        try { await api.post('/api/v1/account/paper/reset'); } catch (error) { alert(error.message); }
        load();
      },
    }, 'Reset the paper account');
    const balances = await venueBalances('paper');
    panel.replaceChildren(...balances.childNodes, el('div', { class: 'actions' }, reset));
  };
  await load();
  return panel;
}

export async function accountPage() {
  setTitle('Account');
  const session = await requireSession();
  const venues = await api.get('/api/v1/venues');
  const keys = new Map();
  const refresh = async () => {
    for (const venue of await api.get('/api/v1/venues')) {
      if (keys.has(venue.venue)) keys.get(venue.venue).load(venue.key);
    }
  };
  for (const venue of venues.filter((v) => v.needs_key)) keys.set(venue.venue, keyPanel(venue.venue, refresh));
  const paper = venues.some((v) => v.venue === 'paper') ? await paperPanel() : null;
  const notifications = await notificationsPanel();
  show(el('h1', {}, 'Account'),
    el('p', { class: 'notice' }, `Logged in as ${session.user.username} (${session.user.email}). A key is verified with its exchange before it is stored, encrypted; its secret is never shown again.`),
    paper, ...[...keys.values()].map((key) => key.panel), notifications);
  for (const venue of venues) if (keys.has(venue.venue)) keys.get(venue.venue).load(venue.key);
}
