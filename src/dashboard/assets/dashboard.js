// Berth dashboard: what the pages do better with a script. Every page works
// without it (forms post, times read "3 min ago" as rendered, the log shows
// what was known when the page was made); this adds the live log, fresh
// relative times and passkeys. Plain browser JS, served as is.
(() => {
  'use strict';

  // The endpoints this script calls; src/dashboard/dashboard-paths.ts has
  // them too (a test checks the two agree).
  const PASSKEY_SIGN_IN_OPTIONS = '/_berth/sign-in/passkey/options';
  const PASSKEY_SIGN_IN = '/_berth/sign-in/passkey';
  const PASSKEY_ADD_OPTIONS = '/_berth/passkeys/options';
  const PASSKEY_ADD = '/_berth/passkeys';

  // --- Relative times: the same words as src/dashboard/time-text.ts ageText.

  function ageText(at, now) {
    const diff = Math.round((now.getTime() - at.getTime()) / 1000);
    const seconds = Math.abs(diff);
    if (seconds < 5) return 'just now';
    let amount;
    if (seconds < 60) amount = `${seconds} s`;
    else if (seconds < 3600) amount = `${Math.floor(seconds / 60)} min`;
    else if (seconds < 86400) amount = `${Math.floor(seconds / 3600)} h`;
    else {
      const days = Math.floor(seconds / 86400);
      amount = `${days} day${days === 1 ? '' : 's'}`;
    }
    return diff >= 0 ? `${amount} ago` : `in ${amount}`;
  }

  function refreshTimes() {
    const now = new Date();
    for (const element of document.querySelectorAll('time[datetime]')) {
      const at = new Date(element.dateTime);
      if (Number.isNaN(at.getTime())) continue;
      element.textContent = ageText(at, now);
      if (!element.title) element.title = at.toISOString();
    }
  }

  refreshTimes();
  setInterval(refreshTimes, 60_000);

  // --- The deploy log: follow its event stream while the deploy runs.

  const log = document.getElementById('log');
  if (log && log.dataset.follow && typeof EventSource === 'function') followLog(log);

  function followLog(pre) {
    const status = document.getElementById('log-status');
    let last = Number(pre.dataset.last) || 0;
    const url = new URL(pre.dataset.follow, location.href);
    // Lines up to `last` are on the page already. After a dropped connection
    // the browser resumes by itself with Last-Event-ID, which the server
    // prefers over `after`.
    url.searchParams.set('after', String(last));
    pre.scrollTop = pre.scrollHeight;
    const source = new EventSource(url);

    source.addEventListener('line', (event) => {
      const n = Number(event.lastEventId) || last + 1;
      if (n <= last) return;
      // Stay at the bottom only if the reader was there: someone scrolled up
      // to read an earlier line keeps their place.
      const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 32;
      const line = document.createElement('span');
      line.dataset.n = String(n);
      line.textContent = event.data;
      pre.append(line, '\n');
      last = n;
      pre.dataset.last = String(n);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });

    source.addEventListener('end', (event) => {
      source.close();
      pre.removeAttribute('data-follow');
      const state = endState(event.data);
      if (status) status.textContent = state ? `The deploy ended: ${state}.` : 'The deploy ended.';
      refreshParts();
    });

    source.addEventListener('error', () => {
      // CONNECTING: the browser retries by itself. CLOSED: it gave up (the
      // server answered with an error, or the session ended).
      if (source.readyState === EventSource.CLOSED && status) {
        status.textContent = 'The live log stopped. Reload the page to see the rest.';
      }
    });
  }

  /** The final state from an `end` event: JSON, either a string or an object with `state`. */
  function endState(data) {
    let value;
    try {
      value = JSON.parse(data);
    } catch {
      return '';
    }
    if (typeof value === 'string') return value;
    return value && typeof value.state === 'string' ? value.state : '';
  }

  /** Fetch this page again and swap in its parts marked `data-refresh` (the summary, the buttons). */
  async function refreshParts() {
    try {
      const response = await fetch(location.href, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
      for (const part of document.querySelectorAll('[data-refresh][id]')) {
        const replacement = fresh.getElementById(part.id);
        if (replacement) part.replaceWith(document.importNode(replacement, true));
      }
      refreshTimes();
    } catch {
      location.reload();
    }
  }

  // --- Passkeys (WebAuthn). The buttons stay hidden where the browser has none.

  function toBuffer(base64url) {
    const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((base64url.length + 3) % 4);
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function withIds(list) {
    return (list || []).map((credential) => ({ ...credential, id: toBuffer(credential.id) }));
  }

  function requestOptions(json) {
    return { ...json, challenge: toBuffer(json.challenge), allowCredentials: withIds(json.allowCredentials) };
  }

  function creationOptions(json) {
    return {
      ...json,
      challenge: toBuffer(json.challenge),
      user: { ...json.user, id: toBuffer(json.user.id) },
      excludeCredentials: withIds(json.excludeCredentials),
    };
  }

  function credentialJson(credential) {
    const response = credential.response;
    const common = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    if ('attestationObject' in response) {
      return {
        ...common,
        response: {
          clientDataJSON: toBase64url(response.clientDataJSON),
          attestationObject: toBase64url(response.attestationObject),
          transports: typeof response.getTransports === 'function' ? response.getTransports() : [],
        },
      };
    }
    return {
      ...common,
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        authenticatorData: toBase64url(response.authenticatorData),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
      },
    };
  }

  /** POST JSON (or nothing), answer the parsed JSON; a non-2xx answer throws with the server's message. */
  async function postJson(path, body, headers) {
    const response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let answer;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok) {
      throw new Error(answer && answer.error && answer.error.message ? answer.error.message : `The server answered ${response.status}`);
    }
    return answer || {};
  }

  function problem(error) {
    // The browser's own words for a closed dialog are not helpful.
    if (error && error.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out';
    return error && error.message ? error.message : String(error);
  }

  const hasWebAuthn = typeof window.PublicKeyCredential === 'function' && navigator.credentials;

  const signInButton = document.getElementById('passkey-sign-in');
  if (signInButton && hasWebAuthn) {
    const alert = document.getElementById('sign-in-error');
    signInButton.hidden = false;
    signInButton.addEventListener('click', async () => {
      signInButton.disabled = true;
      if (alert) alert.textContent = '';
      try {
        const options = await postJson(PASSKEY_SIGN_IN_OPTIONS);
        const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
        const answer = await postJson(PASSKEY_SIGN_IN, credentialJson(credential));
        if (typeof answer.redirect === 'string' && answer.redirect.startsWith('/') && !answer.redirect.startsWith('//')) {
          location.assign(answer.redirect);
          return;
        }
        throw new Error((answer.error && answer.error.message) || 'Signing in with the passkey did not work');
      } catch (error) {
        if (alert) alert.textContent = problem(error);
      }
      signInButton.disabled = false;
    });
  }

  const addButton = document.getElementById('passkey-add');
  if (addButton && hasWebAuthn) {
    const status = document.getElementById('passkey-add-status');
    const csrf = document.querySelector('meta[name="csrf-token"]');
    const headers = { 'x-csrf-token': csrf ? csrf.content : '' };
    addButton.hidden = false;
    addButton.addEventListener('click', async () => {
      addButton.disabled = true;
      if (status) status.textContent = 'Waiting for the passkey…';
      try {
        const options = await postJson(PASSKEY_ADD_OPTIONS, undefined, headers);
        const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
        await postJson(PASSKEY_ADD, credentialJson(credential), headers);
        if (status) status.textContent = 'Passkey added: you can sign in with it from now on.';
      } catch (error) {
        if (status) status.textContent = `The passkey was not added: ${problem(error)}`;
      }
      addButton.disabled = false;
    });
  }
})();
