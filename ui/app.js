// The audit-log screen: the journal of GET /events with its filters, the event detail and the
// CSV export of POST /exports. Plain DOM, no framework, no build step. Every value from the API
// reaches the page through textContent, never as markup.
'use strict';

(() => {
  const API = ((window.AUDIT_CONFIG && window.AUDIT_CONFIG.apiUrl) || '').replace(/\/+$/, '');
  const TOKEN_KEY = 'audit-log.read-token';
  // People's sign-in with the organisation's OpenID provider, when configured:
  // { issuer, clientId, scopes, params } (params: extra authorization parameters some providers
  // want, e.g. { audience: "…" }). Its tokens are kept in this tab only (session storage).
  const OIDC = (window.AUDIT_CONFIG && window.AUDIT_CONFIG.oidc) || null;
  const SESSION_KEY = 'audit-log.session'; // { accessToken, idToken, refreshToken, expiresAt, name }
  const PENDING_KEY = 'audit-log.sign-in'; // { state, verifier, nonce, back } while at the provider
  // A person's access token is renewed this long before it expires.
  const RENEW_MARGIN_MS = 60e3;
  const ZONE_KEY = 'audit-log.zone'; // "utc" or "local", kept across visits (localStorage)
  const PAGE_SIZE = 50;
  const SEARCH_DEBOUNCE_MS = 150;
  const ACTOR_DEBOUNCE_MS = 300;
  const SUGGEST_DEBOUNCE_MS = 120;
  const EXPORT_POLL_MS = 500;
  const PRESETS = { '1h': 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3, '30d': 30 * 24 * 3600e3 };
  // After a listing failed because the server was unreachable or failing: try again by itself,
  // less and less often (and at once on the Retry button).
  const RETRY_MS = [2000, 5000, 10000, 30000];
  // A search whose pages come back short (DynamoDB spends a bounded read on each) is continued
  // by itself for this long before "Keep searching" asks the user.
  const AUTO_SEARCH_MS = 10000;
  // Messages longer than this are clamped to a few lines in the list, with "Show more".
  const LONG_MESSAGE = 280;
  // A download link this close to its expiry is asked for afresh before it is followed.
  const LINK_MARGIN_MS = 30e3;
  // Auto-refresh asks for what is new this often.
  const LIVE_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props);
    node.append(...children);
    return node;
  };

  const state = {
    categories: new Map(), // code → label, from GET /catalog
    failures: new Set(), // the types whose outcome is a failure, from GET /catalog
    types: new Map(), // type code → its message with "…" for the parameters, from GET /catalog
    typeGroups: new Map(), // type code → { group: its category's label, description }
    catalog: null, // GET /catalog, for the type picker (built when first opened)
    typePickerBuilt: false,
    hidden: { actor: '', types: [] }, // what the list leaves out (not_actor, not_type)
    query: null, // the API filters of the rows shown (the cursor is bound to them)
    shownFilters: null, // the form's filters of the rows shown
    cursor: null,
    through: null, // how far the pages shown have searched (the API's searched_through)
    want: PAGE_SIZE, // rows the listing in progress is after: a page, or a page more
    searchStart: 0, // when the user asked for them (pages that come back short continue until AUTO_SEARCH_MS)
    focusPending: false, // "Load more" was pressed: its first new row takes the focus
    loading: null, // AbortController of the listing in flight
    retry: { timer: null, attempt: 0 },
    typing: null, // the text filter whose typing owns the current history entry
    exportRun: 0,
    exportJob: null, // { id, filters, expiresAt } of the export panel
    listSearch: '', // the list's part of the URL's query, as last written or read
    live: null, // the auto-refresh timer
    detail: null, // the event in the detail view
    renders: 0, // listings rendered so far (tests and the benchmark wait on it)
    counting: null, // AbortController of the count in flight
    prefetched: null, // { filters, query, page }: the first page, asked for beside the catalog
    firstPage: null, // that page's promise, for the listing it was asked for
    catalogRequest: null, // GET /catalog asked for at start
  };

  // ---- API -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      const title = (problem && problem.title) || `HTTP ${status}`;
      const detail = problem && problem.detail;
      super(detail ? `${title}: ${detail}` : title);
      this.status = status;
    }
  }

  async function api(path, { method = 'GET', body, signal } = {}) {
    const headers = { Accept: 'application/json' };
    const token = bearer();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        credentials: 'omit',
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, { title: 'The audit-log API could not be reached', detail: e.message });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  const queryString = (params) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : '';
  };

  // ---- Sign-in ---------------------------------------------------------------------------

  // The person's session (OpenID Connect), if signed in that way.
  const session = () => {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    } catch {
      return null;
    }
  };
  // What the API is called with: the person's access token, else the read token entered.
  const bearer = () => {
    const s = session();
    return s ? s.accessToken : sessionStorage.getItem(TOKEN_KEY);
  };

  const base64url = (bytes) =>
    btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const randomText = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
  // The claims of a JWT, unchecked: only for the name shown and the nonce (the ID token comes
  // straight from the token endpoint over TLS; the API checks the access token).
  const claimsOf = (jwt) => {
    try {
      const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const text = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
      return JSON.parse(text);
    } catch {
      return {};
    }
  };
  // Where the provider sends the person back: this page, without its query.
  const redirectUri = () => location.origin + location.pathname;

  let discovery = null;
  // The provider's discovery document (its endpoints), which must name the configured issuer.
  function discover() {
    if (!discovery) {
      discovery = fetch(`${OIDC.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, { credentials: 'omit' })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`its discovery document answered ${r.status}`))))
        .then((d) => (d.issuer === OIDC.issuer ? d : Promise.reject(new Error('its discovery document names another issuer'))));
      discovery.catch(() => (discovery = null));
    }
    return discovery;
  }

  // Off to the provider's sign-in: Authorization Code with PKCE (S256), a state and a nonce kept
  // in this tab, and the journal's place (its URL's query) to come back to.
  async function beginSignIn() {
    $('signin-oidc').disabled = true;
    try {
      const provider = await discover();
      const verifier = randomText();
      const challenge = base64url(
        new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
      );
      const pending = { state: randomText(), verifier, nonce: randomText(), back: location.search + location.hash };
      sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: OIDC.clientId,
        redirect_uri: redirectUri(),
        scope: OIDC.scopes || 'openid profile email',
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...(OIDC.params || {}),
      });
      location.assign(`${provider.authorization_endpoint}?${query}`);
    } catch (e) {
      $('signin-oidc').disabled = false;
      signIn(`The identity provider could not be reached: ${e.message}. Try again, or use a read token.`);
    }
  }

  // Back from the provider (`?code=…&state=…`, or `?error=…`): the code exchanged for tokens.
  // Returns false when this page load is not such an answer.
  async function finishSignIn() {
    const answer = new URLSearchParams(location.search);
    if (!OIDC || !answer.has('state') || !(answer.has('code') || answer.has('error'))) return false;
    let pending = null;
    try {
      pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
    } catch {
      pending = null;
    }
    sessionStorage.removeItem(PENDING_KEY);
    // The code leaves the address bar (and the history) at once; the journal's place comes back.
    history.replaceState(null, '', location.pathname + ((pending && pending.back) || ''));
    if (!pending || pending.state !== answer.get('state')) {
      throw new Error('The sign-in answer was not for a sign-in started in this tab. Sign in again.');
    }
    if (answer.has('error')) {
      throw new Error(`The identity provider did not sign you in: ${answer.get('error_description') || answer.get('error')}.`);
    }
    const tokens = await tokenRequest({
      grant_type: 'authorization_code',
      code: answer.get('code'),
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    });
    keepSession(tokens, pending.nonce);
    return true;
  }

  async function tokenRequest(form) {
    const provider = await discover();
    const response = await fetch(provider.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: OIDC.clientId, ...form }),
      credentials: 'omit',
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok || !data.access_token) {
      throw new Error(`The identity provider refused the sign-in (${data.error_description || data.error || response.status}).`);
    }
    return data;
  }

  let renewal = null;
  function keepSession(tokens, nonce) {
    const claims = tokens.id_token ? claimsOf(tokens.id_token) : {};
    if (nonce !== undefined && claims.nonce !== nonce) {
      throw new Error('The sign-in answer was not for this sign-in (nonce). Sign in again.');
    }
    const before = session() || {};
    const kept = {
      accessToken: tokens.access_token,
      idToken: tokens.id_token || before.idToken || null,
      refreshToken: tokens.refresh_token || before.refreshToken || null,
      expiresAt: Date.now() + (Number(tokens.expires_in) || 300) * 1000,
      name: claims.email || claims.preferred_username || claims.name || before.name || '',
    };
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(kept));
    scheduleRenewal();
  }

  // Before the access token expires: a new one with the refresh token, if the provider gave
  // one; otherwise (or if that fails) back to "Sign in", saying why.
  function scheduleRenewal() {
    clearTimeout(renewal);
    const s = session();
    if (!s) return;
    renewal = setTimeout(renew, Math.max(0, s.expiresAt - RENEW_MARGIN_MS - Date.now()));
  }

  async function renew() {
    const s = session();
    if (!s) return false;
    if (s.refreshToken) {
      try {
        keepSession(await tokenRequest({ grant_type: 'refresh_token', refresh_token: s.refreshToken }));
        return true;
      } catch {
        // fall through to signing in again
      }
    }
    signIn('Your sign-in has ended. Sign in again to go on.');
    return false;
  }

  // Sign out: the tab forgets its tokens; a person is also signed out at the provider when it
  // offers that (end_session_endpoint), and comes back here.
  async function signOut() {
    const s = session();
    sessionStorage.removeItem(SESSION_KEY);
    clearTimeout(renewal);
    if (s && OIDC) {
      try {
        const provider = await discover();
        if (provider.end_session_endpoint) {
          const query = new URLSearchParams({ client_id: OIDC.clientId, post_logout_redirect_uri: redirectUri() });
          if (s.idToken) query.set('id_token_hint', s.idToken);
          location.assign(`${provider.end_session_endpoint}?${query}`);
          return;
        }
      } catch {
        // signed out of this tab alone
      }
    }
    signIn('');
  }

  function signIn(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SESSION_KEY);
    clearTimeout(renewal);
    $('who').hidden = true;
    // What was asked for with the token before is of no use with the next one.
    state.prefetched = null;
    state.catalogRequest = null;
    if (state.loading) state.loading.abort();
    $('journal').hidden = true;
    $('sign-out').hidden = true;
    $('signin').hidden = false;
    $('signin-error').hidden = !message;
    $('signin-error').textContent = message || '';
    $('token').value = '';
    $('signin-oidc').parentElement.hidden = !OIDC;
    $('signin-oidc').disabled = false;
    if (OIDC) {
      $('signin-intro').textContent =
        "Sign in with your organisation's account to read the journal: what you search and export is recorded under your name. Your sign-in is kept in this tab only.";
      $('signin-token-intro').textContent = 'Services and administrators without an account there can open it with a read token.';
    }
    $('signin-token-intro').hidden = !OIDC;
    (OIDC ? $('signin-oidc') : $('token')).focus();
  }

  // Failures that mean "this token will not do" send the user back to the token prompt.
  function authProblem(error) {
    if (session() && error.status === 401) {
      // A person's token no longer accepted (expired early, keys rotated): renewed, the journal
      // goes on; else "Sign in" again.
      renew().then((renewed) => renewed && openJournal());
      return true;
    }
    if (session() && error.status === 403) {
      signIn(`You are signed in, but not allowed to read the audit log (403). Ask for the readers' role, then sign in again.`);
      return true;
    }
    if (error.status === 401) {
      signIn('The token was not accepted (401). Check it and enter a read token.');
      return true;
    }
    if (error.status === 403) {
      signIn('This token may not read the audit log (403): the journal needs a token of role read.');
      return true;
    }
    return false;
  }

  // The catalog and the first page, asked for before anything else is done (with a token): the
  // page with the filters the URL names, used if the form, once set from the URL, shows the same
  // filters. A failure is met again where each is used.
  function prefetch() {
    if (!state.catalogRequest && !state.categories.size) {
      state.catalogRequest = api('/catalog');
      state.catalogRequest.catch(() => {});
    }
    const early = urlFilters(location.search);
    if (state.prefetched || rangeProblem(early)) return;
    const query = apiFilters(early);
    const page = api(`/events${queryString({ ...query, limit: PAGE_SIZE })}`);
    page.catch(() => {});
    state.prefetched = { filters: JSON.stringify(early), query, page };
  }

  async function openJournal({ focus = false } = {}) {
    prefetch();
    $('signin').hidden = true;
    $('journal').hidden = false;
    $('sign-out').hidden = false;
    const person = session();
    $('sign-out').textContent = person ? 'Sign out' : 'Forget token';
    $('who').hidden = !person;
    $('who').textContent = person ? `Signed in as ${person.name || 'you'}` : '';
    try {
      await loadCatalog();
    } catch (e) {
      if (authProblem(e)) return;
      showError(`The catalog could not be loaded. ${e.message}`);
      return;
    }
    readUrl();
    loadSeal();
    // Signed in: the search field, not <body>, has the focus.
    if (focus) $('f-q').focus();
    await reload();
    syncDetail();
  }

  // ---- The seal (GET /integrity) ----------------------------------------------------------

  // "Sealed through …" in the header, and a red badge when the newest check found the log
  // changed behind the API. A deployment without a sealed archive (404) shows nothing.
  async function loadSeal() {
    let seal;
    try {
      seal = await api('/integrity');
    } catch (e) {
      $('seal').hidden = true;
      return;
    }
    $('seal-text').textContent = seal.sealed_through
      ? `Sealed through ${formatTime(new Date(seal.sealed_through))}`
      : 'Not sealed yet';
    $('seal').title = `Digests signed by key ${seal.public_key.fingerprint.slice(0, 16)}…, every ${seal.seal_interval_secs} s`;
    const check = seal.last_check;
    const alarm = $('seal-alarm');
    alarm.hidden = true;
    if (check && !check.holds) {
      const n = check.problem_count;
      alarm.textContent = `Integrity check failed: ${n} problem${n === 1 ? '' : 's'}`;
      alarm.title = `Checked ${formatTime(new Date(check.at))}\n${check.problems.join('\n')}`;
      alarm.hidden = false;
    } else if (seal.tamper) {
      alarm.textContent = 'Changed behind the API';
      alarm.title = `${formatTime(new Date(seal.tamper.at))}: ${seal.tamper.message}`;
      alarm.hidden = false;
    }
    $('seal').hidden = false;
  }

  // The proof of the event in the detail view, saved as a JSON file (verify-proof checks it).
  async function downloadProof() {
    const id = $('detail').dataset.id;
    const status = $('detail-status');
    status.textContent = 'Fetching the proof…';
    try {
      const proof = await api(`/events/${encodeURIComponent(id)}/proof`);
      const blob = new Blob([JSON.stringify(proof, null, 2)], { type: 'application/json' });
      const link = el('a', { href: URL.createObjectURL(blob), download: `proof-${id}.json` });
      link.click();
      URL.revokeObjectURL(link.href);
      status.textContent = 'Proof saved.';
    } catch (e) {
      if (authProblem(e)) return;
      status.textContent = e.status === 409 ? 'Not sealed yet: the proof exists once its period is sealed.' : e.message;
    }
  }

  // ---- Filters and the URL -----------------------------------------------------------------

  async function loadCatalog() {
    if (state.categories.size) return;
    const request = state.catalogRequest || api('/catalog');
    state.catalogRequest = null;
    const catalog = await request;
    const options = $('f-category-options');
    options.replaceChildren();
    $('f-type-options').replaceChildren();
    for (const category of catalog.categories) {
      state.categories.set(category.code, category.label);
      const box = el('input', { type: 'checkbox', name: 'category', value: category.code, id: `cat-${category.code}` });
      options.append(el('label', { className: 'check', htmlFor: box.id }, box, ` ${category.label}`));
      for (const type of category.types) {
        if (type.outcome === 'failure') state.failures.add(type.type);
        state.types.set(type.type, type.template.replace(/\{[^}]*\}/g, '…'));
        state.typeGroups.set(type.type, { group: category.label, description: type.description });
      }
    }
    state.catalog = catalog;
  }

  // The type picker's list, made when it is first opened (62 checkboxes nobody may need are
  // not built before the first rows): every type in catalog order, grouped by category, then
  // the custom types met so far.
  function buildTypePicker() {
    if (state.typePickerBuilt || !state.catalog) return;
    state.typePickerBuilt = true;
    for (const category of state.catalog.categories) {
      for (const type of category.types) {
        const label = typeBox(type.type).parentElement;
        label.parentElement.append(label);
        $('f-type-options').append(label.parentElement);
      }
    }
    const custom = [...$('f-type-options').children].find((f) => f.dataset.group === 'Custom types');
    if (custom) $('f-type-options').append(custom);
  }

  // The type picker's checkbox of `code`, made on first use under its category's group (a
  // custom type, met in a row or a link, goes under "Custom types").
  function typeBox(code) {
    const { group, description } = state.typeGroups.get(code) || { group: 'Custom types', description: '' };
    const id = `type-${code}`;
    const existing = document.getElementById(id);
    if (existing) return existing;
    let fieldset = [...$('f-type-options').children].find((f) => f.dataset.group === group);
    if (!fieldset) {
      fieldset = el('fieldset', {}, el('legend', { textContent: group }));
      fieldset.dataset.group = group;
      $('f-type-options').append(fieldset);
    }
    const box = el('input', { type: 'checkbox', name: 'type', value: code, id });
    const label = el('label', { className: 'check', htmlFor: id }, box, ` ${state.types.get(code) || code}`);
    label.title = description ? `${code}: ${description}` : code;
    label.dataset.find = `${code} ${label.textContent} ${description}`;
    fieldset.append(label);
    return box;
  }

  // The type picker shows the types whose code, message or description holds what is typed.
  function findTypes() {
    const wanted = $('f-type-find').value.trim();
    for (const fieldset of $('f-type-options').children) {
      let any = false;
      for (const label of fieldset.querySelectorAll('label')) {
        label.hidden = wanted !== '' && matches(label.dataset.find, wanted).length === 0;
        any ||= !label.hidden;
      }
      fieldset.hidden = !any;
    }
  }

  // The filters as the form shows them (dates only for a custom range).
  function formFilters() {
    const custom = $('f-range').value === 'custom';
    return {
      range: $('f-range').value,
      from: custom ? $('f-from').value : '',
      to: custom ? $('f-to').value : '',
      actor: $('f-actor').value.trim(),
      category: [...document.querySelectorAll('input[name=category]:checked')].map((b) => b.value),
      type: [...document.querySelectorAll('input[name=type]:checked')].map((b) => b.value),
      failures: $('f-failures').checked,
      notActor: state.hidden.actor,
      notType: [...state.hidden.types],
      q: $('f-q').value.trim(),
      order: $('f-order').value,
    };
  }

  // The URL holds the form's state, so a view can be shared and reloaded. Presets stay presets
  // ("last 7 days" is recomputed on reload); a custom range keeps its dates. Typing in a text
  // filter (`typing` names it) replaces the entry its first keystroke added: Back returns to
  // the filters before the typing, not to each prefix typed.
  function writeUrl(filters, typing = null) {
    const params = {
      range: filters.range === 'all' ? '' : filters.range,
      from: filters.from,
      to: filters.to,
      actor: filters.actor,
      category: filters.category.join(','),
      type: filters.type.join(','),
      outcome: filters.failures ? 'failure' : '',
      not_actor: filters.notActor,
      not_type: filters.notType.join(','),
      q: filters.q,
      order: filters.order === 'asc' ? 'asc' : '',
    };
    const url = `${location.pathname}${queryString(params)}`;
    if (url !== `${location.pathname}${location.search}`) {
      if (typing && state.typing === typing) history.replaceState(null, '', url);
      else history.pushState(null, '', url);
    }
    state.typing = typing;
    state.listSearch = listSearch(location.search);
  }

  // The URL's query without the detail's `event`: what the list shows.
  const listSearch = (search) => {
    const params = new URLSearchParams(search);
    params.delete('event');
    return params.toString();
  };

  // The filters a URL names, in the form's shape (`formFilters`): what the form shows once
  // `readUrl` has set it (before the catalog is known, so its lists are as the URL writes them).
  function urlFilters(search) {
    const params = new URLSearchParams(search);
    const list = (name) => (params.get(name) || '').split(',').filter(Boolean);
    const range = params.get('range') || 'all';
    const known = [...$('f-range').options].some((o) => o.value === range) ? range : 'all';
    const custom = known === 'custom';
    return {
      range: known,
      from: custom ? boundFromUrl(params.get('from') || '', false) : '',
      to: custom ? boundFromUrl(params.get('to') || '', true) : '',
      actor: (params.get('actor') || '').trim(),
      category: list('category'),
      type: list('type'),
      failures: params.get('outcome') === 'failure',
      notActor: params.get('not_actor') || '',
      notType: list('not_type'),
      q: (params.get('q') || '').trim(),
      order: params.get('order') === 'asc' ? 'asc' : 'desc',
    };
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    state.listSearch = listSearch(location.search);
    const filters = urlFilters(location.search);
    $('f-range').value = filters.range;
    $('f-from').value = boundFromUrl(params.get('from') || '', false);
    $('f-to').value = boundFromUrl(params.get('to') || '', true);
    $('f-actor').value = params.get('actor') || '';
    $('f-q').value = params.get('q') || '';
    const chosen = new Set(filters.category);
    for (const box of document.querySelectorAll('input[name=category]')) box.checked = chosen.has(box.value);
    const types = new Set(filters.type);
    for (const code of types) typeBox(code);
    for (const box of document.querySelectorAll('input[name=type]')) box.checked = types.has(box.value);
    $('f-failures').checked = filters.failures;
    $('f-order').value = filters.order;
    state.hidden = { actor: filters.notActor, types: filters.notType };
    syncFilterControls();
  }

  function syncFilterControls() {
    const custom = $('f-range').value === 'custom';
    for (const field of document.querySelectorAll('[data-custom]')) field.hidden = !custom;
    const filters = formFilters();
    // A multiple choice in words: all, the one chosen by its label, or how many.
    const summary = (codes, labels, plural) =>
      codes.length === 0 ? `All ${plural}` : codes.length === 1 ? labels.get(codes[0]) || codes[0] : `${codes.length} ${plural}`;
    $('f-category-summary').textContent = summary(filters.category, state.categories, 'categories');
    $('f-type-summary').textContent = summary(filters.type, state.types, 'types');
    // What is hidden, each with a button that shows it again.
    const unhide = (text, change) => {
      const chip = el('button', { type: 'button', className: 'chip', textContent: `${text} ×` });
      chip.setAttribute('aria-label', `Show ${text} again`);
      chip.addEventListener('click', () => {
        change();
        filtersChanged();
      });
      return chip;
    };
    const chips = [];
    if (filters.notActor) chips.push(unhide(`username ${filters.notActor}`, () => (state.hidden.actor = '')));
    for (const code of filters.notType) {
      chips.push(unhide(`type ${code}`, () => (state.hidden.types = state.hidden.types.filter((t) => t !== code))));
    }
    $('f-hidden').replaceChildren(...(chips.length ? [el('span', { textContent: 'Hidden:' }), ...chips] : []));
    $('f-hidden').hidden = chips.length === 0;
    // New events join the top of a newest-first list only.
    const oldestFirst = filters.order === 'asc';
    $('live').disabled = oldestFirst;
    $('live').parentElement.title = oldestFirst ? 'Auto-refresh shows new events on top: choose Newest first' : '';
    if (oldestFirst && $('live').checked) {
      $('live').checked = false;
      setLive(false);
    }
  }

  // A local instant as a datetime-local input writes it: YYYY-MM-DDTHH:MM.
  const localInput = (date) => {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  };
  const endOfToday = () => `${localInput(new Date()).slice(0, 10)}T23:00`;
  const readable = (input) => input.replace('T', ' ');

  // A custom bound from the URL: YYYY-MM-DDTHH:MM, or a day (links from before hours could be
  // picked), from its start — or, for the end, through its end.
  function boundFromUrl(value, end) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
    const [y, m, d] = value.split('-').map(Number);
    return localInput(new Date(y, m - 1, d + (end ? 1 : 0)));
  }

  // Why the custom range cannot be asked for (checked here, not sent to the server), or null.
  function rangeProblem(filters) {
    if (filters.range !== 'custom') return null;
    if (filters.from && filters.to && filters.from >= filters.to) {
      return `The start (${readable(filters.from)}) is not before the end (${readable(filters.to)}).`;
    }
    const now = localInput(new Date());
    if (filters.from && filters.from > now) return `The start (${readable(filters.from)}) is in the future: no events are recorded yet.`;
    if (filters.to && filters.to > endOfToday()) return `The end (${readable(filters.to)}) is after today: pick today or earlier.`;
    return null;
  }

  // The form's filters as GET /events and POST /exports take them.
  function apiFilters(filters) {
    const query = {};
    if (PRESETS[filters.range]) query.from = new Date(Date.now() - PRESETS[filters.range]).toISOString();
    if (filters.range === 'custom') {
      // A datetime-local value is the browser's local time.
      if (filters.from) query.from = new Date(filters.from).toISOString();
      if (filters.to) query.to = new Date(filters.to).toISOString();
    }
    if (filters.actor) query.actor = filters.actor;
    if (filters.notActor) query.not_actor = filters.notActor;
    if (filters.category.length) query.category = filters.category.join(',');
    if (filters.type.length) query.type = filters.type.join(',');
    if (filters.notType.length) query.not_type = filters.notType.join(',');
    if (filters.failures) query.outcome = 'failure';
    if (filters.q) query.q = filters.q;
    if (filters.order === 'asc') query.order = 'asc';
    return query;
  }

  const debounced = (fn, ms) => {
    let timer = null;
    const call = () => {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
    call.cancel = () => clearTimeout(timer);
    return call;
  };

  function filtersChanged(typing = null) {
    syncFilterControls();
    writeUrl(formFilters(), typing);
    return reload();
  }

  // Usernames that start with what is typed (any case), from GET /actors, offered under the
  // field; the filter itself stays exact.
  async function suggestActors() {
    const prefix = $('f-actor').value.trim();
    const list = $('actor-suggestions');
    if (!prefix) {
      list.replaceChildren();
      return;
    }
    try {
      const { actors } = await api(`/actors${queryString({ prefix, limit: 10 })}`);
      if ($('f-actor').value.trim() !== prefix) return; // typed on meanwhile
      list.replaceChildren(...actors.map((actor) => el('option', { value: actor })));
      list.dataset.prefix = prefix;
    } catch {
      list.replaceChildren(); // suggestions are a help, never an error
    }
  }

  // Typing in a text filter lists it after a pause; Enter, Refresh and Export do not wait.
  const typed = {
    actor: debounced(() => filtersChanged('actor'), ACTOR_DEBOUNCE_MS),
    q: debounced(() => filtersChanged('q'), SEARCH_DEBOUNCE_MS),
  };

  function applyTyping() {
    typed.actor.cancel();
    typed.q.cancel();
    return filtersChanged();
  }

  // The filters shown in words (the export panel says what its file was made with).
  function describeFilters(filters, query) {
    const parts = [];
    if (filters.range === 'custom') parts.push(`${filters.from ? readable(filters.from) : 'the beginning'} to ${filters.to ? readable(filters.to) : 'now'}`);
    else if (filters.range === 'all') parts.push('All time');
    else {
      const since = query && query.from ? ` (since ${formatTime(new Date(query.from))})` : '';
      parts.push(`${$('f-range').selectedOptions[0].textContent}${since}`);
    }
    if (filters.actor) parts.push(`username ${filters.actor}`);
    if (filters.category.length) {
      const names = filters.category.map((code) => state.categories.get(code) || code).join(', ');
      parts.push(`${filters.category.length === 1 ? 'category' : 'categories'} ${names}`);
    }
    if (filters.type.length) parts.push(`${filters.type.length === 1 ? 'type' : 'types'} ${filters.type.join(', ')}`);
    if (filters.failures) parts.push('failures only');
    if (filters.notActor) parts.push(`without username ${filters.notActor}`);
    if (filters.notType.length) parts.push(`without ${filters.notType.length === 1 ? 'type' : 'types'} ${filters.notType.join(', ')}`);
    if (filters.q) parts.push(`search “${filters.q}”`);
    if (filters.order === 'asc') parts.push('oldest first');
    return parts.join(' · ');
  }

  // ---- The journal -----------------------------------------------------------------------

  async function reload() {
    const filters = formFilters();
    const prefetched = state.prefetched;
    state.prefetched = null;
    state.shownFilters = filters;
    const problem = rangeProblem(filters);
    $('range-error').textContent = problem || '';
    $('range-error').hidden = !problem;
    for (const field of [$('f-from'), $('f-to')]) field.toggleAttribute('aria-invalid', Boolean(problem));
    markExport();
    if (problem) {
      // Nothing is asked for; nothing of the filters before stays on screen.
      if (state.loading) state.loading.abort();
      state.loading = null;
      if (state.counting) state.counting.abort();
      state.counting = null;
      $('counts').hidden = true;
      clearTimeout(state.retry.timer);
      state.query = null;
      $('rows').replaceChildren();
      $('table-wrap').classList.remove('stale');
      $('events').removeAttribute('aria-busy');
      $('summary').textContent = 'No events shown: correct the dates.';
      $('more').hidden = true;
      $('more-error').hidden = true;
      $('empty').hidden = true;
      $('export').disabled = true;
      hideError();
      document.documentElement.dataset.state = 'invalid';
      return;
    }
    $('export').disabled = false;
    state.query = prefetched && prefetched.filters === JSON.stringify(filters) ? prefetched.query : apiFilters(filters);
    state.firstPage = prefetched && prefetched.query === state.query ? prefetched.page : null;
    state.cursor = null;
    state.retry.attempt = 0;
    loadCounts();
    await loadPage(true);
  }

  // One page of the listing: the first (replacing the rows once it has come, the old ones
  // dimmed meanwhile) or the next (appended, the focus on its first row). A page that comes
  // back short with a cursor (a rare search on DynamoDB) is followed by the next one by itself
  // (`auto`), saying how far the search has got, until a page's worth is shown or
  // AUTO_SEARCH_MS has passed.
  async function loadPage(first, auto = false) {
    if (!auto) {
      state.want = first ? PAGE_SIZE : $('rows').childElementCount + PAGE_SIZE;
      state.searchStart = performance.now();
      state.focusPending = !first;
    }
    if (state.loading) state.loading.abort();
    clearTimeout(state.retry.timer);
    const controller = new AbortController();
    state.loading = controller;
    const query = state.query;
    document.documentElement.dataset.state = 'loading';
    $('events').setAttribute('aria-busy', 'true');
    $('more').disabled = true;
    $('more-error').hidden = true;
    if (first) {
      $('table-wrap').classList.add('stale');
      $('summary').textContent = 'Loading…';
      $('empty').hidden = true;
      $('more').hidden = true;
    }
    let page;
    try {
      const prefetched = first ? state.firstPage : null;
      state.firstPage = null;
      page = await (prefetched ||
        api(`/events${queryString({ ...query, limit: PAGE_SIZE, cursor: first ? null : state.cursor })}`, {
          signal: controller.signal,
        }));
    } catch (e) {
      if (e.name === 'AbortError' || state.loading !== controller) return;
      state.loading = null;
      document.documentElement.dataset.state = 'error';
      $('events').removeAttribute('aria-busy');
      $('table-wrap').classList.remove('stale');
      if (authProblem(e)) return;
      listingFailed(first, e);
      return;
    }
    if (state.loading !== controller) return;
    state.loading = null;
    state.retry.attempt = 0;
    hideError();
    const rows = page.events.map(row);
    if (first) $('rows').replaceChildren(...rows);
    else $('rows').append(...rows);
    $('table-wrap').classList.remove('stale');
    const shown = $('rows').childElementCount;
    state.cursor = page.next_cursor;
    state.through = page.next_cursor ? page.searched_through : null;
    if (first && !performance.getEntriesByName('audit:first-rows').length) {
      // The first rows of the visit are in the page; then painted (the frame after this task).
      performance.mark('audit:first-rows');
      requestAnimationFrame(() => setTimeout(() => performance.mark('audit:first-rows-painted')));
    }
    // The focus stays in the list: on the first new row "Load more" brought, or on the button
    // if none came.
    if (state.focusPending && rows.length) {
      state.focusPending = false;
      rows[0].querySelector('button.message').focus();
    }
    const short = Boolean(state.cursor) && shown < state.want;
    if (short && performance.now() - state.searchStart < AUTO_SEARCH_MS) {
      summarize(true);
      loadPage(false, true);
      return;
    }
    $('events').removeAttribute('aria-busy');
    $('empty').hidden = !(first && shown === 0 && !state.cursor);
    $('more').hidden = !state.cursor;
    $('more').disabled = false;
    $('more').textContent = short ? 'Keep searching' : 'Load more';
    summarize(false);
    if (state.focusPending && state.cursor) $('more').focus();
    state.focusPending = false;
    document.documentElement.dataset.state = 'ready';
    document.documentElement.dataset.renders = String(++state.renders);
    window.dispatchEvent(new CustomEvent('audit:rendered', { detail: { query, shown } }));
  }

  // How many rows are shown, whether more are available and, for a search that has not found a
  // page's worth yet, how far it has searched (`searching`: it goes on by itself).
  function summarize(searching) {
    const shown = $('rows').childElementCount;
    const count = shown.toLocaleString();
    const events = shown === 1 ? 'event' : 'events';
    const order = state.query && state.query.order === 'asc' ? 'oldest first' : 'newest first';
    const through = state.through && formatTime(new Date(state.through));
    const short = state.cursor && through && shown < state.want;
    $('summary').textContent = searching
      ? `Searching… ${count} ${events} found so far; searched through ${through}.`
      : short
        ? `${count} ${events} shown, ${order}; searched through ${through}. Keep searching for more.`
        : state.cursor
          ? `${count} ${events} shown, ${order}; more are available.`
          : shown === 0
            ? 'No events.'
            : `All ${count} matching ${events} shown, ${order}.`;
  }

  // A failed first page leaves nothing of the filters before on screen; a failed next page
  // says so beside "Load more", which tries again. A server that is unreachable or failing is
  // asked again by itself.
  function listingFailed(first, error) {
    if (first) {
      $('rows').replaceChildren();
      $('summary').textContent = 'No events shown: the journal could not be loaded.';
      $('more').hidden = true;
      $('empty').hidden = true;
      showError(`The journal could not be loaded. ${error.message}`);
    } else {
      $('more').disabled = false;
      $('more-error').textContent = `More events could not be loaded. ${error.message}`;
      $('more-error').hidden = false;
    }
    if (error.status === 0 || error.status >= 500 || error.status === 429) {
      const delay = RETRY_MS[Math.min(state.retry.attempt, RETRY_MS.length - 1)];
      state.retry.attempt += 1;
      state.retry.timer = setTimeout(() => loadPage(first), delay);
    }
  }

  // Times read in the browser's zone or in UTC (the header's choice, kept across visits). The
  // formatters are made when first used: each costs the browser milliseconds to make, which
  // the first page need not wait for.
  const formats = {};
  const localZone = () => (formats.zone ??= Intl.DateTimeFormat().resolvedOptions().timeZone);
  let chosenZone = null;
  const zone = () => (chosenZone ??= localStorage.getItem(ZONE_KEY) === 'utc' ? 'utc' : 'local');
  const formatTime = (date) =>
    (formats[zone()] ??= new Intl.DateTimeFormat(undefined, {
      dateStyle: 'medium',
      timeStyle: 'medium',
      timeZone: zone() === 'utc' ? 'UTC' : undefined,
    })).format(date);

  // "3 hours ago", for the time's tooltip.
  function ago(date) {
    const relative = (formats.relative ??= new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }));
    const seconds = (date.getTime() - Date.now()) / 1000;
    for (const [unit, size] of [
      ['year', 31536000],
      ['month', 2592000],
      ['day', 86400],
      ['hour', 3600],
      ['minute', 60],
    ]) {
      if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
    }
    return relative.format(Math.round(seconds), 'second');
  }

  // The zone chosen: the header's name of it, and every time on screen written again.
  function showZone() {
    $('zone').value = zone();
    $('time-zone').textContent = `(${zone() === 'utc' ? 'UTC' : localZone()})`;
    for (const node of document.querySelectorAll('#rows time')) node.textContent = formatTime(new Date(node.dateTime));
  }

  // Where the search matches `text`, as the API matches it (event_model::filter::fold): each
  // character lower-cased on its own, the Greek final sigma as sigma. [start, end) pairs.
  function matches(text, q) {
    const fold = (ch) => ch.toLowerCase().replaceAll('ς', 'σ');
    const needle = [...(q || '')].map(fold).join('');
    if (!needle) return [];
    let folded = '';
    const origin = []; // the index in `text` of each folded unit's character
    let at = 0;
    for (const ch of text) {
      const lower = fold(ch);
      for (let k = 0; k < lower.length; k++) origin.push(at);
      folded += lower;
      at += ch.length;
    }
    origin.push(text.length);
    const found = [];
    for (let i = folded.indexOf(needle); i !== -1; i = folded.indexOf(needle, i + needle.length)) {
      found.push([origin[i], origin[i + needle.length]]);
    }
    return found;
  }

  // `text` with the search's matches in <mark> (text nodes only, never markup).
  function highlighted(text) {
    const parts = [];
    let last = 0;
    for (const [start, end] of matches(text, state.query && state.query.q)) {
      parts.push(text.slice(last, start), el('mark', { textContent: text.slice(start, end) }));
      last = end;
    }
    parts.push(text.slice(last));
    return parts;
  }

  function row(event) {
    const time = new Date(event.time);
    const when = el('time', { dateTime: event.time, textContent: formatTime(time) });
    when.title = `${event.time} (UTC)\nid ${event.id}`;
    when.addEventListener('mouseenter', () => (when.title = `${ago(time)}\n${event.time} (UTC)\nid ${event.id}`));
    // Click to filter: the username and the category of a row list only theirs.
    const actor = el(
      'button',
      { type: 'button', className: event.actor === 'system' ? 'actor system filter' : 'actor filter' },
      ...highlighted(event.actor),
    );
    actor.title = 'Show only this username';
    actor.addEventListener('click', () => filterBy({ actor: event.actor }));
    if (event.actor === 'system') actor.title = 'Recorded by the system, not a user';
    const open = el('button', { type: 'button', className: 'message' }, ...highlighted(event.message));
    open.setAttribute('aria-haspopup', 'dialog');
    open.addEventListener('click', () => openDetail(event));
    const message = el('td', { className: 'message-cell' }, open);
    if (event.message.length > LONG_MESSAGE) {
      // Clamped to a few lines; the whole text on "Show more" (and always in the detail).
      open.classList.add('long');
      const toggle = el('button', { type: 'button', className: 'link show-more', textContent: 'Show more' });
      toggle.setAttribute('aria-expanded', 'false');
      toggle.addEventListener('click', () => {
        const expanded = open.classList.toggle('expanded');
        toggle.setAttribute('aria-expanded', String(expanded));
        toggle.textContent = expanded ? 'Show less' : 'Show more';
      });
      message.append(toggle);
    }
    const duration = el('td', { className: 'duration' }, el('span', { className: 'cell-label', textContent: 'Duration ' }), humanDuration(event.duration_ms));
    if (event.duration_ms !== undefined) duration.title = `${event.duration_ms.toLocaleString()} ms`;
    else duration.classList.add('none');
    const category = el('button', { type: 'button', className: 'filter' }, badge(event.category));
    category.title = 'Show only this category';
    category.addEventListener('click', () => filterBy({ only: event.category }));
    const type = el('button', { type: 'button', className: 'filter type-code', textContent: event.type });
    type.title = 'Show only this type';
    type.addEventListener('click', () => filterBy({ type: event.type }));
    const kind = el('td', {}, category, type);
    // A failure (by its type's outcome in the catalog) says so in words, not by colour alone.
    if (state.failures.has(event.type)) kind.append(' ', el('span', { className: 'outcome-failure', textContent: 'Failure' }));
    const tr = el('tr', {}, el('td', { className: 'time' }, when), el('td', {}, actor), kind, message, duration);
    if (state.failures.has(event.type)) tr.classList.add('failure');
    tr.dataset.id = event.id;
    return tr;
  }

  // Narrows the list from a row or the detail: only a username, a category or a type; every
  // category but one (`hide`); without a username or a type (`not_actor`, `not_type`).
  function filterBy({ actor, only, hide, type, hideActor, hideType }) {
    if ($('detail').open) $('detail').close();
    if (actor !== undefined) $('f-actor').value = actor;
    if (type) for (const box of document.querySelectorAll('input[name=type]')) box.checked = box.value === type;
    if (type) typeBox(type).checked = true;
    if (hideActor) state.hidden.actor = hideActor;
    if (hideType && !state.hidden.types.includes(hideType)) state.hidden.types = [...state.hidden.types, hideType];
    const boxes = [...document.querySelectorAll('input[name=category]')];
    if (only) for (const box of boxes) box.checked = box.value === only;
    if (hide) {
      const chosen = boxes.filter((box) => box.checked);
      for (const box of boxes) box.checked = (chosen.length === 0 || box.checked) && box.value !== hide;
    }
    applyTyping();
  }

  const badge = (category) =>
    el('span', { className: `badge cat-${category}`, textContent: state.categories.get(category) || category });

  // 450 → "450 ms", 2_000 → "2 s", 92_000 → "1 min 32 s": the two largest units, as people
  // say it, one style for all.
  function humanDuration(ms) {
    if (ms === undefined || ms === null) return '—';
    if (ms < 1000) return `${ms} ms`;
    let seconds = Math.round(ms / 1000);
    const units = [
      ['d', 86400],
      ['h', 3600],
      ['min', 60],
      ['s', 1],
    ];
    const parts = [];
    for (const [name, size] of units) {
      const n = Math.floor(seconds / size);
      seconds -= n * size;
      if (n > 0 || parts.length > 0) parts.push(n > 0 ? `${n} ${name}` : '');
      if (parts.length === 2) break;
    }
    return parts.filter(Boolean).join(' ');
  }

  function showError(message) {
    $('error-text').textContent = message;
    $('error').hidden = false;
  }

  function hideError() {
    $('error').hidden = true;
  }

  // ---- Event detail ----------------------------------------------------------------------

  function showDetail(event) {
    const fields = [
      ['Id', event.id],
      ['Time (UTC)', event.time],
      [`Time (${zone() === 'utc' ? 'UTC' : 'local'})`, formatTime(new Date(event.time))],
      ['Username', event.actor],
      ['Category', `${state.categories.get(event.category) || event.category} (${event.category})`],
      ['Type', event.type],
      ['Message', event.message],
      [
        'Duration',
        event.duration_ms === undefined ? '—' : `${humanDuration(event.duration_ms)} (${event.duration_ms} ms)`,
      ],
      ['Source', event.source],
      ['Received (UTC)', event.received_at],
    ];
    $('detail-fields').replaceChildren(
      ...fields.flatMap(([name, value]) => [el('dt', { textContent: name }), el('dd', { textContent: value })]),
    );
    $('detail-params').textContent = JSON.stringify(event.params, null, 2);
    const label = state.categories.get(event.category) || event.category;
    const action = (text, filter) => {
      const button = el('button', { type: 'button', className: 'link', textContent: text });
      button.addEventListener('click', () => filterBy(filter));
      return button;
    };
    $('detail-filters').replaceChildren(
      action(`Only username ${event.actor}`, { actor: event.actor }),
      action(`Hide username ${event.actor}`, { hideActor: event.actor }),
      action(`Only category ${label}`, { only: event.category }),
      action(`Hide category ${label}`, { hide: event.category }),
      action(`Only type ${event.type}`, { type: event.type }),
      action(`Hide type ${event.type}`, { hideType: event.type }),
    );
    $('detail').dataset.id = event.id;
    $('detail-status').textContent = '';
    state.detail = event;
    if (!$('detail').open) $('detail').showModal();
  }

  // The detail has its own URL (`event=<id>` beside the filters): a link to one event. Opening
  // it adds a history entry; closing it goes back to the list's.
  function openDetail(event) {
    showDetail(event);
    const params = new URLSearchParams(location.search);
    if (params.get('event') === event.id) return;
    params.set('event', event.id);
    history.pushState({ detail: true }, '', `${location.pathname}?${params}`);
  }

  function detailClosed() {
    state.detail = null;
    const params = new URLSearchParams(location.search);
    if (!params.has('event')) return;
    if (history.state && history.state.detail) {
      history.back();
      return;
    }
    params.delete('event');
    history.replaceState(null, '', `${location.pathname}${queryString(Object.fromEntries(params))}`);
  }

  // The detail as the URL says: the event it names, fetched if it is not on screen; closed if it
  // names none.
  async function syncDetail() {
    const id = new URLSearchParams(location.search).get('event');
    if (!id) {
      if ($('detail').open) $('detail').close();
      return;
    }
    if (state.detail && state.detail.id === id && $('detail').open) return;
    try {
      showDetail(await api(`/events/${encodeURIComponent(id)}`));
    } catch (e) {
      if (authProblem(e)) return;
      showError(e.status === 404 ? `No event has the id ${id}.` : `The event ${id} could not be loaded. ${e.message}`);
    }
  }

  async function copyFromDetail(what) {
    const text = what === 'link' ? location.href : JSON.stringify(state.detail, null, 2);
    try {
      await navigator.clipboard.writeText(text);
      $('detail-status').textContent = what === 'link' ? 'Link copied.' : 'JSON copied.';
    } catch (e) {
      $('detail-status').textContent = `Could not copy: ${e.message}`;
    }
  }

  // ---- How many match, and when ----------------------------------------------------------

  // The count of the filters on screen and their histogram (GET /counts): hours over a week or
  // less, days beyond. A count the store could not finish cheaply reads "more than N".
  async function loadCounts() {
    if (state.counting) state.counting.abort();
    const controller = new AbortController();
    state.counting = controller;
    const query = { ...state.query };
    delete query.order;
    const from = query.from ? Date.parse(query.from) : null;
    const to = query.to ? Date.parse(query.to) : Date.now();
    // Hours over a week or less (with slack: "Last 7 days" was computed a moment before now).
    query.bucket = from !== null && to - from <= 7 * 86400e3 + 3600e3 ? 'hour' : 'day';
    let counts;
    try {
      counts = await api(`/counts${queryString(query)}`, { signal: controller.signal });
    } catch (e) {
      if (e.name === 'AbortError' || state.counting !== controller) return;
      $('counts').hidden = false;
      $('count').textContent = `The events could not be counted. ${e.message}`;
      $('histogram').replaceChildren();
      return;
    }
    if (state.counting !== controller) return;
    state.counting = null;
    const n = counts.total.toLocaleString();
    // Counts kept by the store (DynamoDB) say through when: a late event may join later.
    const kept = counts.counted_through
      ? ` Counted through ${formatTime(new Date(counts.counted_through))}; events that arrive late are added at the next count.`
      : '';
    $('count').textContent = (counts.exact
      ? `${n} ${counts.total === 1 ? 'event matches' : 'events match'}.`
      : `More than ${n} events match (counting stopped there).`) + kept;
    drawHistogram(counts);
    $('counts').hidden = false;
    document.documentElement.dataset.counted = String(Number(document.documentElement.dataset.counted || 0) + 1);
  }

  function drawHistogram(counts) {
    const most = Math.max(1, ...counts.buckets.map((b) => b.count));
    const size = counts.bucket === 'hour' ? 3600e3 : 86400e3;
    const bars = counts.buckets.map((bucket) => {
      const start = new Date(bucket.start);
      const end = new Date(start.getTime() + size);
      const bar = el('button', { type: 'button', className: bucket.count ? '' : 'empty' });
      bar.style.height = `${bucket.count ? Math.max(4, (100 * bucket.count) / most) : 2}%`;
      const label = `${formatTime(start)} to ${formatTime(end)}: ${bucket.count.toLocaleString()} ${bucket.count === 1 ? 'event' : 'events'}`;
      bar.title = label;
      bar.setAttribute('aria-label', label);
      bar.dataset.start = String(start.getTime());
      bar.dataset.end = String(end.getTime());
      return bar;
    });
    $('histogram').replaceChildren(...bars);
    $('histogram-first').textContent = bars.length ? formatTime(new Date(Number(bars[0].dataset.start))) : '';
    $('histogram-last').textContent = bars.length ? formatTime(new Date(Number(bars[bars.length - 1].dataset.end))) : '';
  }

  // A bar, or a drag across bars, becomes the custom range of the period they cover.
  function narrowTo(first, last) {
    const start = Math.min(Number(first.dataset.start), Number(last.dataset.start));
    const end = Math.max(Number(first.dataset.end), Number(last.dataset.end));
    $('f-range').value = 'custom';
    $('f-from').value = localInput(new Date(start));
    $('f-to').value = localInput(new Date(end));
    filtersChanged();
  }

  function wireHistogram() {
    let anchor = null;
    const barAt = (e) => {
      const node = document.elementFromPoint(e.clientX, e.clientY);
      return node && node.parentElement === $('histogram') ? node : null;
    };
    const mark = (to) => {
      const bars = [...$('histogram').children];
      const [a, b] = [bars.indexOf(anchor), bars.indexOf(to)].sort((x, y) => x - y);
      bars.forEach((bar, i) => bar.classList.toggle('picked', i >= a && i <= b));
    };
    $('histogram').addEventListener('pointerdown', (e) => {
      anchor = barAt(e);
      if (anchor) mark(anchor);
    });
    $('histogram').addEventListener('pointermove', (e) => {
      const bar = anchor && barAt(e);
      if (bar) mark(bar);
    });
    window.addEventListener('pointerup', (e) => {
      if (!anchor) return;
      const last = barAt(e) || anchor;
      const first = anchor;
      anchor = null;
      narrowTo(first, last);
    });
    // The keyboard: Enter or Space on a bar narrows to it.
    $('histogram').addEventListener('click', (e) => {
      if (e.detail === 0 && e.target.parentElement === $('histogram')) narrowTo(e.target, e.target);
    });
  }

  // ---- Auto-refresh ----------------------------------------------------------------------

  // New events of the filters shown are put on top every LIVE_MS, and what the user was reading
  // stays where it was on screen. More than a page of new events: the list is loaded again.
  async function pollNew() {
    const query = state.query;
    if (!query || state.loading || document.hidden || $('rows').childElementCount === 0) return;
    let page;
    try {
      page = await api(`/events${queryString({ ...query, limit: PAGE_SIZE })}`);
    } catch {
      return; // the next tick asks again
    }
    if (query !== state.query || state.loading) return;
    const shown = new Set([...$('rows').children].map((tr) => tr.dataset.id));
    const fresh = [];
    for (const event of page.events) {
      if (shown.has(event.id)) break;
      fresh.push(event);
    }
    if (fresh.length === 0) return;
    if (fresh.length === page.events.length) {
      await reload();
      return;
    }
    const anchor = $('rows').firstElementChild;
    const before = anchor.getBoundingClientRect().top;
    const rows = fresh.map(row);
    for (const tr of rows) tr.classList.add('new');
    $('rows').prepend(...rows);
    if (window.scrollY > 0) window.scrollBy(0, anchor.getBoundingClientRect().top - before);
    summarize();
    $('live-status').textContent = `${fresh.length} new ${fresh.length === 1 ? 'event' : 'events'} at the top.`;
    document.documentElement.dataset.live = String(Number(document.documentElement.dataset.live || 0) + fresh.length);
  }

  function setLive(on) {
    clearInterval(state.live);
    state.live = on ? setInterval(pollNew, LIVE_MS) : null;
    $('live-status').textContent = on ? `New events appear at the top every ${LIVE_MS / 1000} s.` : '';
  }

  // ---- Keyboard ------------------------------------------------------------------------------

  // `/` to the search, `j`/`k` between rows (Enter opens one, Escape closes it), outside fields.
  function keyboard(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || $('journal').hidden || $('detail').open) return;
    if (e.target.closest('input, select, textarea, summary')) return;
    if (e.key === '/') {
      e.preventDefault();
      $('f-q').focus();
      $('f-q').select();
      return;
    }
    if (e.key !== 'j' && e.key !== 'k') return;
    const buttons = [...document.querySelectorAll('#rows button.message')];
    if (buttons.length === 0) return;
    e.preventDefault();
    const at = buttons.indexOf(document.activeElement);
    const next = at === -1 ? 0 : Math.max(0, Math.min(buttons.length - 1, at + (e.key === 'j' ? 1 : -1)));
    buttons[next].focus();
    buttons[next].scrollIntoView({ block: 'nearest' });
  }



  // ---- Export ----------------------------------------------------------------------------

  // The export panel says which filters its file was made with, and marks itself when the list
  // below shows other ones.
  function markExport() {
    const job = state.exportJob;
    if (!job) return;
    const stale = JSON.stringify(job.filters) !== JSON.stringify(state.shownFilters);
    $('export-stale').hidden = !stale;
    $('export-panel').classList.toggle('stale', stale);
  }

  function dismissExport() {
    state.exportRun += 1; // a running poll stops
    state.exportJob = null;
    $('export-panel').hidden = true;
    $('export').focus();
  }

  const expiryText = (at) => (at ? ` The link works until ${formatTime(new Date(at))}; a click after that fetches a fresh one.` : '');

  async function startExport() {
    // A filter still being typed is applied first: the export is of what the form says, and
    // the list below shows the same.
    if (JSON.stringify(formFilters()) !== JSON.stringify(state.shownFilters)) await applyTyping();
    if (!state.query) return;
    const run = ++state.exportRun;
    const filters = state.shownFilters;
    state.exportJob = { id: null, filters, expiresAt: Infinity };
    $('export-filters').textContent = `Made with: ${describeFilters(filters, state.query)}.`;
    $('export-panel').hidden = false;
    markExport();
    const status = $('export-status');
    const say = (...content) => status.replaceChildren(...content);
    $('export').disabled = true;
    say('Starting the export…');
    try {
      // Exactly the filters of the rows on screen (a preset's start as computed for them).
      const format = $('export-format').value;
      const job = await api('/exports', { method: 'POST', body: { ...state.query, format } });
      if (run !== state.exportRun) return;
      state.exportJob.id = job.id;
      for (;;) {
        const current = await api(`/exports/${encodeURIComponent(job.id)}`);
        if (run !== state.exportRun) return;
        if (current.status === 'succeeded') {
          const link = el('a', {
            href: current.download_url,
            className: 'button',
            textContent: `Download ${format.toUpperCase()} (${current.rows.toLocaleString()} rows)`,
          });
          link.setAttribute('download', '');
          link.addEventListener('click', (e) => followFresh(e, link, run));
          state.exportJob.expiresAt = current.expires_at ? Date.parse(current.expires_at) : Infinity;
          say('Export ready. ', link, el('span', { id: 'export-expiry', textContent: expiryText(current.expires_at) }));
          link.focus();
          return;
        }
        if (current.status === 'failed') {
          say(el('span', { className: 'error', textContent: `The export failed: ${current.error || 'no reason given'}.` }));
          return;
        }
        say(`Exporting… ${current.rows.toLocaleString()} rows so far.`);
        await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
      }
    } catch (e) {
      if (authProblem(e)) return;
      if (run === state.exportRun) say(el('span', { className: 'error', textContent: `The export failed. ${e.message}` }));
    } finally {
      $('export').disabled = state.query === null;
    }
  }

  // The caller's recent exports (GET /exports), each with its filters, status and a fresh link;
  // asked for each time the list is opened.
  async function loadExports() {
    if (!$('exports').open) return;
    $('exports-status').textContent = 'Loading…';
    let listed;
    try {
      listed = await api('/exports?limit=20');
    } catch (e) {
      if (authProblem(e)) return;
      $('exports-status').textContent = `Your exports could not be listed. ${e.message}`;
      return;
    }
    $('exports-status').textContent = listed.exports.length ? '' : 'No exports yet.';
    $('exports-list').replaceChildren(
      ...listed.exports.map((job) => {
        const when = el('time', { dateTime: job.created_at, textContent: formatTime(new Date(job.created_at)) });
        const what = ` ${job.format.toUpperCase()}, ${describeApiFilters(job.filters)}: `;
        const item = el('li', {}, when, what);
        if (job.status === 'succeeded') {
          const link = el('a', { href: job.download_url, textContent: `Download (${job.rows.toLocaleString()} rows)` });
          link.setAttribute('download', '');
          const until = job.expires_at ? ` (link until ${formatTime(new Date(job.expires_at))}; open the list again for a fresh one)` : '';
          item.append(link, el('span', { className: 'muted', textContent: until }));
        } else if (job.status === 'failed') {
          item.append(el('span', { className: 'error', textContent: `failed: ${job.error || 'no reason given'}` }));
        } else {
          item.append(`${job.status}, ${job.rows.toLocaleString()} rows so far`);
        }
        item.dataset.id = job.id;
        return item;
      }),
    );
  }

  // An export's stored filters (as the API writes them) in words.
  function describeApiFilters(f) {
    const parts = [];
    if (f.from || f.to) {
      parts.push(`${f.from ? formatTime(new Date(f.from)) : 'the beginning'} to ${f.to ? formatTime(new Date(f.to)) : 'now'}`);
    }
    if (f.actor) parts.push(`username ${f.actor}`);
    if (f.not_actor) parts.push(`without username ${f.not_actor}`);
    if (f.category) parts.push(`category ${f.category.map((c) => state.categories.get(c) || c).join(', ')}`);
    if (f.type) parts.push(`type ${f.type.join(', ')}`);
    if (f.not_type) parts.push(`without type ${f.not_type.join(', ')}`);
    if (f.outcome) parts.push(`${f.outcome} only`);
    if (f.q) parts.push(`search “${f.q}”`);
    if (f.order === 'asc') parts.push('oldest first');
    return parts.length ? parts.join(' · ') : 'the whole journal';
  }

  // A download link lives 15 minutes, and the API hands out a fresh one on every status call:
  // a click near or after the expiry asks for one first, instead of exporting again.
  async function followFresh(event, link, run) {
    if (link.dataset.fresh) {
      delete link.dataset.fresh; // the click below, with the link just fetched
      return;
    }
    const job = state.exportJob;
    if (!job || run !== state.exportRun || Date.now() < job.expiresAt - LINK_MARGIN_MS) return;
    event.preventDefault();
    try {
      const current = await api(`/exports/${encodeURIComponent(job.id)}`);
      if (run !== state.exportRun) return;
      link.href = current.download_url;
      job.expiresAt = current.expires_at ? Date.parse(current.expires_at) : Infinity;
      $('export-expiry').textContent = expiryText(current.expires_at);
      link.dataset.fresh = 'yes';
      link.click();
    } catch (e) {
      if (authProblem(e)) return;
      $('export-expiry').textContent = ` A fresh link could not be fetched. ${e.message}`;
    }
  }

  // ---- Wiring ----------------------------------------------------------------------------

  async function start() {
    const returning = OIDC && new URLSearchParams(location.search).has('state');
    // A person's token that is about to expire is renewed before anything is asked with it.
    const person = session();
    const due = person && person.expiresAt <= Date.now() + RENEW_MARGIN_MS;
    if (bearer() && !returning && !due) prefetch();
    showZone();
    $('zone').addEventListener('change', () => {
      localStorage.setItem(ZONE_KEY, $('zone').value);
      chosenZone = null;
      showZone();
    });
    for (const field of [$('f-from'), $('f-to')]) field.max = endOfToday();
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const token = $('token').value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      openJournal({ focus: true });
    });
    $('sign-out').addEventListener('click', signOut);
    $('signin-oidc').addEventListener('click', beginSignIn);
    $('f-range').addEventListener('change', () => {
      syncFilterControls();
      if ($('f-range').value !== 'custom' || $('f-from').value || $('f-to').value) filtersChanged();
      else {
        // "Custom range" is in the URL at once; the list changes when a date is picked.
        writeUrl(formFilters());
        $('f-from').focus();
      }
    });
    $('f-from').addEventListener('change', () => filtersChanged());
    $('f-to').addEventListener('change', () => filtersChanged());
    $('f-actor').addEventListener('input', typed.actor);
    $('f-actor').addEventListener('input', debounced(suggestActors, SUGGEST_DEBOUNCE_MS));
    $('f-q').addEventListener('input', typed.q);
    // Leaving a text filter ends its typing: the next change adds a history entry.
    for (const field of [$('f-actor'), $('f-q')]) field.addEventListener('blur', () => (state.typing = null));
    $('f-category-options').addEventListener('change', () => filtersChanged());
    $('f-type-options').addEventListener('change', () => filtersChanged());
    $('f-type-find').addEventListener('input', findTypes);
    // Built as the summary is clicked (or Enter/Space pressed on it), before the list opens; the
    // toggle event, which comes a task later, covers any other opening.
    $('f-type').querySelector('summary').addEventListener('click', buildTypePicker);
    $('f-type').addEventListener('toggle', buildTypePicker);
    for (const control of [$('f-order'), $('f-failures')]) control.addEventListener('change', () => filtersChanged());
    // The category and type lists close like menus: on Escape (focus back on their button) or
    // a click elsewhere. Enter in the type finder does not submit the form.
    for (const menu of [$('f-category'), $('f-type')]) {
      menu.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && e.target === $('f-type-find')) e.preventDefault();
        if (e.key !== 'Escape' || !menu.open) return;
        e.stopPropagation();
        menu.open = false;
        menu.querySelector('summary').focus();
      });
    }
    document.addEventListener('click', (e) => {
      for (const menu of [$('f-category'), $('f-type')]) if (menu.open && !menu.contains(e.target)) menu.open = false;
    });
    // Enter in any filter, or Refresh: the list for the filters now, at once.
    $('filters').addEventListener('submit', (e) => {
      e.preventDefault();
      applyTyping();
    });
    $('f-range').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') $('filters').requestSubmit();
    });
    $('reset').addEventListener('click', () => {
      history.pushState(null, '', location.pathname);
      state.typing = null;
      readUrl();
      reload();
    });
    $('more').addEventListener('click', () => loadPage(false));
    $('retry').addEventListener('click', () => (state.categories.size ? loadPage(true) : openJournal()));
    $('export').addEventListener('click', startExport);
    $('export-format').addEventListener('change', () => {
      $('export').textContent = `Export ${$('export-format').value.toUpperCase()}`;
    });
    $('exports').addEventListener('toggle', loadExports);
    $('export-dismiss').addEventListener('click', dismissExport);
    $('detail-close').addEventListener('click', () => $('detail').close());
    $('detail').addEventListener('close', detailClosed);
    $('detail-proof').addEventListener('click', downloadProof);
    $('detail-copy-link').addEventListener('click', () => copyFromDetail('link'));
    $('detail-copy-json').addEventListener('click', () => copyFromDetail('json'));
    $('live').addEventListener('change', () => setLive($('live').checked));
    wireHistogram();
    document.addEventListener('keydown', keyboard);
    $('detail').addEventListener('click', (e) => {
      if (e.target === $('detail')) $('detail').close(); // a click on the backdrop
    });
    // Back and Forward: the list again if its part of the URL changed (not when only the
    // detail opened or closed: the form, perhaps being typed in, stays); the detail as the URL
    // says.
    window.addEventListener('popstate', () => {
      if ($('journal').hidden) return;
      if (listSearch(location.search) !== state.listSearch) {
        state.typing = null;
        const before = JSON.stringify(formFilters());
        readUrl();
        if (JSON.stringify(formFilters()) !== before) reload();
      }
      syncDetail();
    });
    if (returning) {
      try {
        if (await finishSignIn()) {
          openJournal({ focus: true });
          return;
        }
      } catch (e) {
        signIn(e.message);
        return;
      }
    }
    if (due && !(await renew())) return;
    if (session()) scheduleRenewal();
    if (bearer()) openJournal();
    else signIn('');
  }

  start();
})();
