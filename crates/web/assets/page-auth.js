// The login and registration pages.

import { api } from './api.js';
import { el, field, onSubmit, setTitle, show } from './dom.js';
import { nextPage } from './session.js';

export function loginPage() {
  setTitle('Log in');
  const form = el('form', { class: 'panel narrow', id: 'login-form', novalidate: true },
    el('h1', {}, 'Log in'),
    el('p', { class: 'form-error error', role: 'alert' }),
    field('username', 'Username', el('input', { autocomplete: 'username', required: true })),
    field('password', 'Password', el('input', { type: 'password', autocomplete: 'current-password', required: true })),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Log in')),
    el('p', {}, 'No account yet? ', el('a', { href: '/register' }, 'Create one')));
  onSubmit(form, async (data) => {
    await api.post('/api/v1/auth/session', {
      username: data.get('username'), password: data.get('password'),
    });
    location.assign(nextPage());
  });
  show(form);
  form.querySelector('input').focus();
}

export function registerPage() {
  setTitle('Create an account');
  const form = el('form', { class: 'panel narrow', id: 'register-form', novalidate: true },
    el('h1', {}, 'Create an account'),
    el('p', { class: 'form-error error', role: 'alert' }),
    field('email', 'Email', el('input', { type: 'email', autocomplete: 'email', required: true })),
    field('username', 'Username (3 to 32 of A–Z a–z 0–9 _ . -)', el('input', { autocomplete: 'username', required: true })),
    field('password', 'Password (at least 10 characters)', el('input', { type: 'password', autocomplete: 'new-password', required: true })),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Create the account')),
    el('p', {}, 'Have an account? ', el('a', { href: '/login' }, 'Log in')));
  onSubmit(form, async (data) => {
    const credentials = { username: data.get('username'), password: data.get('password') };
    await api.post('/api/v1/auth/register', { email: data.get('email'), ...credentials });
    await api.post('/api/v1/auth/session', credentials);
    location.assign('/bots');
  });
  show(form);
  form.querySelector('input').focus();
}
