// The JSON API as the pages call it: JSON in and out, the session's CSRF token on every
// request that changes something, and errors thrown as ApiErrors with the server's
// {code, message, field}.

import { field } from './dom.js';

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `the server answered ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

export const api = {
  csrf: null,
  // `body` is sent as JSON, unless `contentType` says what it is (a File sent as it is).
  async call(method, path, body, contentType) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = contentType || 'application/json';
    if (method !== 'GET' && api.csrf) headers['X-CSRF-Token'] = api.csrf;
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined || contentType ? body : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, { code: 'network', message: 'the server cannot be reached; is spotbot running?' });
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (error) { json = null; }
    if (!response.ok) throw new ApiError(response.status, json);
    return json;
  },
  get: (path) => api.call('GET', path),
  post: (path, body) => api.call('POST', path, body),
  patch: (path, body) => api.call('PATCH', path, body),
  del: (path) => api.call('DELETE', path),
  put: (path, file, contentType) => api.call('PUT', path, file, contentType),
};
