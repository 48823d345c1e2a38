// The session: every page but login and register needs one, and shows who is logged in.

import { api } from './api.js';
import { el } from './dom.js';

export async function requireSession() {
  try {
    const session = await api.get('/api/v1/auth/session');
    api.csrf = session.csrf_token;
    showNav(session.user);
    return session;
  } catch (error) {
    if (error.status === 401) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign(`/login?next=${next}`);
      return new Promise(() => {});
    }
    throw error;
  }
}

function showNav(user) {
  const logout = el('button', {
    class: 'link', type: 'button', id: 'logout',
    onclick: async () => {
      await api.del('/api/v1/auth/session').catch(() => {});
      location.assign('/login');
    },
  }, 'Log out');
  const link = (href, label) => el('a', { href, 'aria-current': location.pathname === href ? 'page' : null }, label);
  const admin = user.role === 'admin' ? [link('/admin', 'Admin')] : [];
  document.getElementById('nav').replaceChildren(
    link('/bots', 'Bots'), link('/portfolio', 'Portfolio'), link('/backtest', 'Backtest'),
    link('/account', 'Account'), ...admin,
    el('span', { id: 'whoami' }, user.username),
    logout);
}

// Where to go after logging in: the page that sent us here, if it is one of ours.
export function nextPage() {
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/bots';
}
