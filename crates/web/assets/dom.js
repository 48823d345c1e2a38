// Building pages: elements from data (textContent only, never innerHTML, so whatever a user
// typed is shown, never run), times and amounts as people read them, and forms whose errors
// appear next to the field the API names.

import { ApiError } from './api.js';

// el('a', {href: '/x', class: 'y'}, 'text', child...): an element; strings become text nodes.
export function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function main() { return document.getElementById('main'); }

// Replaces the page's content with `nodes` (null and undefined ones left out).
export function show(...nodes) {
  main().replaceChildren(...nodes.filter((node) => node !== null && node !== undefined));
}

export function setTitle(title) { document.title = `${title} · spotbot`; }

// Times are shown in UTC, as the exchange and the logs give them: 2026-12-05 22:26:21 UTC.
export function utc(ms) {
  return ms === null || ms === undefined ? '—' : `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

// A decimal string shown with at most 8 decimals; the exact value is in its title.
const amountFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 8, useGrouping: false });
export function amount(text) {
  return el('span', { title: text }, amountFormat.format(Number(text)));
}

export function signed(text) {
  const value = Number(text);
  const node = amount(text);
  node.className = value > 0 ? 'positive' : value < 0 ? 'negative' : '';
  return node;
}

// A form field: label, input (or select) and the place its error goes.
// `suffix` keeps ids unique where one page has several forms with the same fields; such a form
// carries it as data-suffix, so that its errors find their field.
export function field(name, label, input, suffix = '') {
  input.id = `field-${name}${suffix}`;
  input.name = name;
  input.setAttribute('aria-describedby', `error-${name}${suffix}`);
  return el('div', { class: 'field' },
    el('label', { for: input.id }, label), input,
    el('span', { class: 'field-error', id: `error-${name}${suffix}`, role: 'alert' }));
}

function clearErrors(form) {
  for (const node of form.querySelectorAll('.field-error')) node.textContent = '';
  for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
  const general = form.querySelector('.form-error');
  if (general) general.textContent = '';
}

// Shows an API error next to the field it names (strategy_params.fast → the "fast" input), or
// at the top of the form when it names none the form has.
function showError(form, error) {
  const name = error.field ? String(error.field).replace(/^strategy_params\.?/, '') || 'strategy_params' : null;
  const input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
  const slot = name && form.querySelector(`#${CSS.escape(`error-${name}${form.dataset.suffix || ''}`)}`);
  if (input && slot) {
    input.setAttribute('aria-invalid', 'true');
    slot.textContent = error.message;
    input.focus();
    return;
  }
  const general = form.querySelector('.form-error');
  general.textContent = error.message;
}

// Runs `work` for a form submission: the button disabled meanwhile, errors shown in the form.
export function onSubmit(form, work) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await work(new FormData(form));
    } catch (error) {
      if (error instanceof ApiError) showError(form, error);
      else throw error;
    } finally {
      button.disabled = false;
    }
  });
}


// Seconds since the epoch, the chart library's time.
export const seconds = (ms) => Math.floor(ms / 1000);

// Waits for the browser to have painted what was just put in the page.
export const painted = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
