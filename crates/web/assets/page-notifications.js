// The account page's notifications: the user's channels (a webhook's signing secret is shown
// once, when it is made; a Telegram token is never shown), which events of each bot go to a
// channel (saved as soon as a box is ticked), a test message, and the delivery log, refreshed
// while the page is open.

import { api } from './api.js';
import { el, field, onSubmit, utc } from './dom.js';

const EVENTS = [
  ['trade', 'Trades'],
  ['order_in_doubt', 'Orders in doubt'],
  ['bot_error', 'Errors and pauses'],
  ['daily_summary', 'Daily summary'],
];
const LOG_REFRESH_MS = 5000;

function addChannelForm(refresh, secretSlot) {
  const kind = el('select', {}, el('option', { value: 'webhook' }, 'Webhook'), el('option', { value: 'telegram' }, 'Telegram'));
  const webhookFields = el('div', { class: 'row' },
    field('url', 'Webhook URL', el('input', { type: 'url', placeholder: 'https://hooks.example.com/spotbot', autocomplete: 'off' }), '-channel'));
  const telegramFields = el('div', { class: 'row hidden' },
    field('chat_id', 'Chat id', el('input', { placeholder: '-1001234567890', autocomplete: 'off' }), '-channel'),
    field('bot_token', 'Bot token (from @BotFather)', el('input', { type: 'password', autocomplete: 'off' }), '-channel'));
  kind.addEventListener('change', () => {
    webhookFields.classList.toggle('hidden', kind.value !== 'webhook');
    telegramFields.classList.toggle('hidden', kind.value !== 'telegram');
  });
  const form = el('form', { id: 'channel-form', 'data-suffix': '-channel', novalidate: true },
    el('p', { class: 'form-error error', role: 'alert' }),
    el('div', { class: 'row' },
      field('kind', 'Kind', kind, '-channel'),
      field('name', 'Name', el('input', { maxlength: 64, placeholder: 'ops', autocomplete: 'off' }), '-channel')),
    webhookFields, telegramFields,
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Add the channel')));
  onSubmit(form, async (data) => {
    const body = { kind: data.get('kind'), name: data.get('name') };
    if (body.kind === 'webhook') body.url = data.get('url').trim();
    else Object.assign(body, { chat_id: data.get('chat_id').trim(), bot_token: data.get('bot_token').trim() });
    const created = await api.post('/api/v1/notifications/channels', body);
    form.reset();
    kind.dispatchEvent(new Event('change'));
    secretSlot.replaceChildren(created.signing_secret
      ? el('div', { class: 'panel', id: 'signing-secret' },
        el('p', {}, `The signing secret of "${created.channel.name}", shown this once: keep it where your receiver checks X-Spotbot-Signature.`),
        el('code', { class: 'secret' }, created.signing_secret))
      : null);
    refresh();
  });
  return form;
}

function channelsTable(channels, refresh) {
  if (!channels.length) return el('p', { class: 'notice' }, 'No channel yet: add a webhook or a Telegram chat below.');
  const row = (channel) => el('tr', { 'data-channel': channel.id },
    el('td', {}, channel.name), el('td', {}, channel.kind), el('td', { class: 'wrap' }, channel.target),
    el('td', {}, channel.enabled ? 'on' : 'off'),
    el('td', {}, el('div', { class: 'actions' },
      el('button', {
        type: 'button', class: 'secondary', 'data-action': 'test',
        onclick: async () => { try { await api.post(`/api/v1/notifications/channels/${channel.id}/test`); } catch (error) { alert(error.message); } refresh(); },
      }, 'Send a test'),
      el('button', {
        type: 'button', class: 'secondary', 'data-action': 'toggle',
        onclick: async () => { try { await api.patch(`/api/v1/notifications/channels/${channel.id}`, { enabled: !channel.enabled }); } catch (error) { alert(error.message); } refresh(); },
      }, channel.enabled ? 'Turn off' : 'Turn on'),
      el('button', {
        type: 'button', class: 'danger', 'data-action': 'delete',
        onclick: async () => {
          if (!confirm(`Delete the channel "${channel.name}"? Its notifications not yet sent are dropped.`)) return;
          try { await api.del(`/api/v1/notifications/channels/${channel.id}`); } catch (error) { alert(error.message); }
          refresh();
        },
      }, 'Delete'))));
  return el('div', { class: 'table-wrap' }, el('table', { id: 'channels' },
    el('thead', {}, el('tr', {}, ['Name', 'Kind', 'Goes to', 'State', ''].map((name) => el('th', {}, name)))),
    el('tbody', {}, channels.map(row))));
}

// One row per bot, one box per event, for `channel`: ticking a box saves that bot's choice.
async function eventsTable(channel, bots) {
  const chosen = new Map();
  await Promise.all(bots.map(async (bot) => chosen.set(bot.id, await api.get(`/api/v1/bots/${bot.id}/notifications`))));
  const save = async (bot, status) => {
    const boxes = [...document.querySelectorAll(`#events tr[data-bot="${bot.id}"] input:checked`)];
    const others = chosen.get(bot.id).channels.filter((entry) => entry.channel_id !== channel.id);
    const mine = boxes.length ? [{ channel_id: channel.id, events: boxes.map((box) => box.value) }] : [];
    status.textContent = 'saving…';
    try {
      chosen.set(bot.id, await api.call('PUT', `/api/v1/bots/${bot.id}/notifications`, { channels: [...others, ...mine] }));
      status.textContent = 'saved';
    } catch (error) {
      status.textContent = error.message;
    }
  };
  const row = (bot) => {
    const current = chosen.get(bot.id).channels.find((entry) => entry.channel_id === channel.id);
    const status = el('span', { class: 'small notice', role: 'status' });
    return el('tr', { 'data-bot': bot.id }, el('td', {}, bot.name),
      EVENTS.map(([event, label]) => el('td', {}, el('input', {
        type: 'checkbox', value: event, 'aria-label': `${label} of ${bot.name}`,
        checked: Boolean(current && current.events.includes(event)),
        onchange: () => save(bot, status),
      }))), el('td', {}, status));
  };
  if (!bots.length) return el('p', { class: 'notice' }, 'No bot yet.');
  return el('div', { class: 'table-wrap' }, el('table', { id: 'events' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Bot'), EVENTS.map(([, label]) => el('th', {}, label)), el('th', {}, ''))),
    el('tbody', {}, bots.map(row))));
}

function deliveryLog(deliveries, channels) {
  const names = new Map(channels.map((channel) => [channel.id, channel.name]));
  if (!deliveries.length) return el('p', { class: 'notice' }, 'Nothing sent yet.');
  const result = (delivery) => delivery.status === 'pending'
    ? `next attempt ${utc(delivery.next_attempt_at_ms)}${delivery.last_error ? `; last: ${delivery.last_error}` : ''}`
    : delivery.status === 'delivered' ? `delivered ${utc(delivery.delivered_at_ms)}` : delivery.last_error || '';
  return el('div', { class: 'table-wrap' }, el('table', { id: 'deliveries' },
    el('thead', {}, el('tr', {}, ['Queued', 'Channel', 'Event', 'Status', 'Attempts', 'Result'].map((name) => el('th', {}, name)))),
    el('tbody', {}, deliveries.map((delivery) => el('tr', { 'data-status': delivery.status },
      el('td', {}, utc(delivery.created_at_ms)), el('td', {}, names.get(delivery.channel_id) || delivery.channel_id),
      el('td', {}, delivery.event), el('td', {}, el('span', { class: `badge ${delivery.status === 'failed' ? 'error' : delivery.status === 'delivered' ? 'running' : 'idle'}` }, delivery.status)),
      el('td', { class: 'num' }, delivery.attempts), el('td', { class: delivery.status === 'failed' ? 'error' : 'wrap' }, result(delivery)))))));
}

// The notifications panel, filled and kept up to date while the page is open.
export async function notificationsPanel() {
  const panel = el('section', { class: 'panel', id: 'notifications' });
  const secretSlot = el('div', {});
  const channelsSlot = el('div', {});
  const eventsSlot = el('div', {});
  const logSlot = el('div', {});
  const picker = el('select', { id: 'events-channel', 'aria-label': 'Channel' });
  const pickerField = el('div', { id: 'events-picker' }, el('label', { for: 'events-channel' }, 'Channel'), picker);
  let channels = [];
  const bots = await api.get('/api/v1/bots');
  const showEvents = async () => {
    const channel = channels.find((c) => String(c.id) === picker.value);
    eventsSlot.replaceChildren(channel ? await eventsTable(channel, bots) : el('p', { class: 'notice' }, 'Add a channel first.'));
  };
  const showLog = async () => {
    logSlot.replaceChildren(deliveryLog(await api.get('/api/v1/notifications/deliveries?limit=50'), channels));
  };
  const refresh = async () => {
    channels = await api.get('/api/v1/notifications/channels');
    channelsSlot.replaceChildren(channelsTable(channels, refresh));
    const chosen = picker.value;
    picker.replaceChildren(...channels.map((c) => el('option', { value: c.id }, c.name)));
    if (channels.some((c) => String(c.id) === chosen)) picker.value = chosen;
    // No channel, nothing to pick: the note below says to add one.
    pickerField.classList.toggle('hidden', channels.length === 0);
    await showEvents();
    await showLog();
  };
  picker.addEventListener('change', showEvents);
  panel.append(el('h2', {}, 'Notifications'),
    el('p', { class: 'notice' }, 'Webhooks receive JSON signed with HMAC-SHA256 (X-Spotbot-Signature) and an Idempotency-Key that stays the same if a notification is sent again; Telegram chats get a message from your bot. Failed deliveries are retried with growing waits.'),
    channelsSlot, secretSlot, el('h3', {}, 'Add a channel'), addChannelForm(refresh, secretSlot),
    el('h3', {}, 'What each bot tells'), pickerField, eventsSlot,
    el('div', { class: 'page-head' }, el('h3', {}, 'Delivery log'),
      el('button', { type: 'button', class: 'secondary', onclick: showLog }, 'Refresh')),
    logSlot);
  await refresh();
  setInterval(() => { if (document.visibilityState === 'visible') showLog().catch(() => {}); }, LOG_REFRESH_MS);
  return panel;
}
