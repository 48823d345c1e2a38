// For admins: every user, the fleet's workers and every bot's status, kept fresh.

import { api } from './api.js';
import { el, setTitle, show, utc } from './dom.js';
import { requireSession } from './session.js';
import { statusBadge } from './page-bots.js';

const ADMIN_REFRESH_MS = 5000;

// A table of `rows` (arrays of cells) under `headers`; `id` names it.
function simpleTable(id, headers, rows) {
  return el('div', { class: 'table-wrap' }, el('table', { id },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((cell) => el('td', {}, cell)))))));
}

export async function adminPage() {
  setTitle('Admin');
  const session = await requireSession();
  if (session.user.role !== 'admin') {
    show(el('h1', {}, 'Admin'), el('p', { class: 'error' }, 'Only an admin sees this page.'));
    return;
  }
  const users = el('div', {});
  const workers = el('div', {});
  const bots = el('div', {});
  const problem = el('p', { class: 'error', role: 'alert' });
  show(el('h1', {}, 'Admin'), problem,
    el('section', { class: 'panel' }, el('h2', {}, 'Bots'), bots),
    el('section', { class: 'panel' }, el('h2', {}, 'Workers'), workers),
    el('section', { class: 'panel' }, el('h2', {}, 'Users'), users));
  const refresh = async () => {
    try {
      const [userList, workerList, botList] = await Promise.all([
        api.get('/api/v1/admin/users'), api.get('/api/v1/admin/workers'), api.get('/api/v1/admin/bots'),
      ]);
      users.replaceChildren(simpleTable('admin-users', ['Id', 'Username', 'Email', 'Role', 'Since'],
        userList.map((u) => [String(u.id), u.username, u.email, u.role, utc(u.created_at_ms)])));
      workers.replaceChildren(workerList.length === 0 ? el('p', { class: 'notice' }, 'No worker has registered.')
        : simpleTable('admin-workers', ['Worker', 'State', 'Host', 'Pid', 'Bots held', 'Last heartbeat', 'Started'],
          workerList.map((w) => [w.id, el('span', { class: `badge ${w.state === 'running' ? 'running' : 'paused'}` }, w.state),
            w.host, String(w.pid), String(w.bots_held), utc(w.heartbeat_at_ms), utc(w.started_at_ms)])));
      bots.replaceChildren(simpleTable('admin-bots', ['Id', 'Owner', 'Bot', 'Market', 'Mode', 'Status', 'Failures', 'Last error', 'Changed'],
        botList.map((b) => [String(b.id), b.username, b.name, `${b.symbol} ${b.interval}`, b.mode,
          statusBadge(b), String(b.consecutive_failures), b.last_error || '—', utc(b.updated_at_ms)])));
      problem.textContent = '';
    } catch (error) {
      problem.textContent = error.message;
    }
  };
  await refresh();
  setInterval(refresh, ADMIN_REFRESH_MS);
}
