// spotbot's dashboard: every page is filled from the JSON API (/api/v1), logged in with the
// session cookie; this entry runs the page the shell names (its body's data-page). The modules:
// api.js (the API), dom.js (building pages), session.js, and one page-*.js per page. See
// crates/web/src/lib.rs for why the dashboard is built this way.

import { el, show } from './dom.js';
import { loginPage, registerPage } from './page-auth.js';
import { botsPage } from './page-bots.js';
import { botPage } from './page-bot.js';
import { portfolioPage } from './page-portfolio.js';
import { accountPage } from './page-account.js';
import { adminPage } from './page-admin.js';
import { backtestPage } from './page-backtest.js';

const PAGES = {
  login: loginPage, register: registerPage, bots: botsPage, bot: botPage,
  portfolio: portfolioPage, account: accountPage, admin: adminPage, backtest: backtestPage,
};

document.addEventListener('DOMContentLoaded', () => {
  const page = PAGES[document.body.dataset.page];
  Promise.resolve(page ? page() : null).catch((error) => {
    show(el('h1', {}, 'Something went wrong'), el('p', { class: 'error' }, error.message));
  });
});
