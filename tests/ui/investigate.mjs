// What an admin investigating uses (issue 16's features), each a step: a link to one event (its
// own URL, copy link, copy JSON), the keyboard (`/`, `j`/`k`, Enter, Escape, the skip link), the
// auto-refresh that puts new events on top without moving what the user reads, times in UTC or
// local with "Last hour" and custom ranges to the hour; search highlights; failures marked;
// click to filter; the type picker, order, failures only, hiding a username or a type; then axe-core over each state at 1280
// and 390 px, screenshotted into AUDIT_SCREENSHOTS (docs/screenshots holds a copy). Run by
// tests/tests/ui.rs against a seeded local server; on its own:
//   AUDIT_URL=… AUDIT_READ_TOKEN=… AUDIT_INGEST_TOKEN=… node tests/ui/investigate.mjs
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  BASE,
  SHOTS,
  afterRender,
  apiIds,
  apiJson,
  log,
  noAxeViolations,
  openBrowser,
  record,
  renders,
  run,
  runMain,
  shownIds,
  signIn,
  watchListings,
} from './lib.mjs';

const focusedId = (page) =>
  page.evaluate(() => {
    const node = document.activeElement;
    return node.closest('tr') ? node.closest('tr').dataset.id : node.id;
  });

async function main() {
  const { browser, context, page } = await openBrowser();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  const seen = watchListings(page);
  await signIn(page);
  const ids = await shownIds(page);

  run.step = 'first page beside the catalog';
  // Reloaded with the token kept: the first page is asked for before the catalog has answered,
  // once (not again after it).
  const order = [];
  const onRequest = (r) => new URL(r.url()).pathname === '/events' && order.push(`request ${new URL(r.url()).search}`);
  const onResponse = (r) => new URL(r.url()).pathname === '/catalog' && order.push('catalog answered');
  page.on('request', onRequest);
  page.on('response', onResponse);
  await page.goto(`${BASE}/?actor=dana.admin`);
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  page.off('request', onRequest);
  page.off('response', onResponse);
  const listings = order.filter((o) => o.startsWith('request') && !o.includes('cursor'));
  assert.equal(listings.length, 1, `one first page: ${order}`);
  assert.ok(order.indexOf(listings[0]) < order.indexOf('catalog answered'), `asked for before the catalog answered: ${order}`);
  assert.deepEqual(await shownIds(page), (await apiJson('/events?actor=dana.admin&limit=50')).events.map((e) => e.id));
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log('the first page is asked for beside the catalog, once');

  run.step = 'a link to one event';
  const event = await apiJson(`/events/${ids[3]}`);
  const rendered = await renders(page);
  await page.locator(`#rows tr[data-id="${event.id}"] button.message`).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.equal(new URL(page.url()).searchParams.get('event'), event.id, 'the detail has its own URL');
  await page.getByRole('button', { name: 'Copy link' }).click();
  await page.getByText('Link copied.').waitFor();
  const link = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(link, page.url());
  await page.getByRole('button', { name: 'Copy JSON' }).click();
  await page.getByText('JSON copied.').waitFor();
  assert.deepEqual(JSON.parse(await page.evaluate(() => navigator.clipboard.readText())), event, 'the JSON is the API\'s');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('event'));
  assert.equal(await renders(page), rendered, 'closing the detail does not load the list again');
  // The link opened in the tab: the journal, and the event's detail over it.
  await page.goto(link);
  await dialog.waitFor();
  assert.match(await dialog.textContent(), new RegExp(event.id));
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  // The dialog's close event, which takes `event` out of the URL, comes in a task of its own.
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('event'));
  // An id no event has: said plainly.
  run.allowedConsole = /status of 404/;
  await page.goto(`${BASE}/?event=00000000-0000-7000-8000-000000000000`);
  await page.getByText('No event has the id 00000000-0000-7000-8000-000000000000.').waitFor();
  run.allowedConsole = null;
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log('a link to one event: its URL opens its detail; copy link and copy JSON; Escape returns to the list');

  run.step = 'keyboard';
  await page.locator('body').click({ position: { x: 600, y: 5 } });
  await page.keyboard.press('/');
  assert.equal(await focusedId(page), 'f-q', '/ goes to the search');
  await page.locator('body').click({ position: { x: 600, y: 5 } });
  const listed = await shownIds(page);
  await page.keyboard.press('j');
  assert.equal(await focusedId(page), listed[0], 'j: the first row');
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  assert.equal(await focusedId(page), listed[2], 'j j: the third row');
  await page.keyboard.press('k');
  assert.equal(await focusedId(page), listed[1], 'k: back one');
  await page.keyboard.press('Enter');
  await dialog.waitFor();
  assert.equal(new URL(page.url()).searchParams.get('event'), listed[1], 'Enter opens the row');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  // Closing goes back a history entry: done before the next navigation, which it would abort.
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('event'));
  await page.goto(`${BASE}/`);
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to the events' });
  assert.ok(await skip.evaluate((node) => node === document.activeElement), 'the first Tab reaches the skip link');
  assert.ok((await skip.boundingBox()).y >= 0, 'it shows when focused');
  await skip.press('Enter');
  assert.equal(await focusedId(page), 'events', 'it moves the focus to the events');
  log('keyboard: / to the search, j/k between rows, Enter opens, Escape closes, a skip link');

  run.step = 'auto-refresh';
  await page.getByLabel('Auto-refresh').check();
  await page.mouse.wheel(0, 900);
  await page.waitForFunction(() => window.scrollY > 800);
  const reading = (await shownIds(page))[20];
  const place = (await page.locator(`#rows tr[data-id="${reading}"]`).boundingBox()).y;
  const now = Date.now();
  const fresh = [0, 1, 2].map((k) => ({
    id: crypto.randomUUID(),
    time: new Date(now - k).toISOString(),
    actor: 'lena.live',
    type: 'custom.live_test',
    message: `Live event ${k}`,
  }));
  const sent = Date.now();
  await record(fresh);
  await page.waitForFunction(() => Number(document.documentElement.dataset.live || 0) >= 3, null, { timeout: 10000 });
  const delay = Date.now() - sent;
  assert.deepEqual((await shownIds(page)).slice(0, 3), fresh.map((e) => e.id), 'the new events are on top');
  const after = (await page.locator(`#rows tr[data-id="${reading}"]`).boundingBox()).y;
  assert.ok(Math.abs(after - place) <= 2, `the row being read stays in place (${place} → ${after} px)`);
  assert.match(await page.locator('#live-status').textContent(), /^3 new events at the top\./);
  await page.getByLabel('Auto-refresh').uncheck();
  log(`auto-refresh: 3 new events on top ${delay} ms after they were recorded; the row being read did not move`);

  run.step = 'time';
  await page.evaluate(() => window.scrollTo(0, 0));
  const first = await apiJson(`/events/${(await shownIds(page))[0]}`);
  const inZone = (timeZone) =>
    page.evaluate(
      ([time, zone]) => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium', timeZone: zone }).format(new Date(time)),
      [first.time, timeZone],
    );
  const firstTime = () => page.locator(`#rows tr[data-id="${first.id}"] time`).innerText();
  assert.equal(await firstTime(), await inZone('America/Los_Angeles'), 'local time by default');
  await page.getByLabel('Times in').selectOption('utc');
  assert.equal(await page.locator('#time-zone').innerText(), '(UTC)');
  assert.equal(await firstTime(), await inZone('UTC'), 'UTC when chosen');
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  assert.equal(await firstTime(), await inZone('UTC'), 'the choice is kept');
  await page.getByLabel('Times in').selectOption('local');
  await page.locator(`#rows tr[data-id="${first.id}"] time`).hover();
  assert.match(await page.locator(`#rows tr[data-id="${first.id}"] time`).getAttribute('title'), /ago\n/, 'how long ago, on hover');
  await afterRender(page, () => page.getByLabel('Period').selectOption('1h'));
  const hourAgo = Date.parse(seen.last.from);
  assert.ok(Math.abs(Date.now() - 3600e3 - hourAgo) < 60e3, `"Last hour" starts an hour ago: ${seen.last.from}`);
  assert.deepEqual(await shownIds(page), (await apiJson(`/events?from=${seen.last.from}&limit=50`)).events.map((e) => e.id));
  await page.getByLabel('Period').selectOption('custom');
  const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Los_Angeles' }).format(new Date(Date.now() - 3 * 86400e3));
  await afterRender(page, () => page.getByLabel('From').fill(`${day}T10:00`));
  await afterRender(page, () => page.getByLabel('To', { exact: true }).fill(`${day}T14:00`));
  const [from, to] = [Date.parse(seen.last.from), Date.parse(seen.last.to)];
  assert.equal(to - from, 4 * 3600e3, `four hours: ${seen.last.from} to ${seen.last.to}`);
  assert.equal(new Date(from).getUTCMinutes(), 0);
  assert.equal(new URL(page.url()).searchParams.get('from'), `${day}T10:00`);
  assert.deepEqual(await shownIds(page), (await apiJson(`/events?from=${seen.last.from}&to=${seen.last.to}&limit=50`)).events.map((e) => e.id));
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log('time: local or UTC (kept), how long ago on hover, "Last hour", custom ranges to the hour');

  run.step = 'search highlights';
  await afterRender(page, () => page.getByLabel('Search').fill('SIGNING key'));
  const marks = await page.locator('#rows button.message mark').allInnerTexts();
  assert.equal(marks.length, 50, 'one match in each row shown');
  assert.ok(marks.every((m) => m === 'signing key'), `the matches as written in the messages: ${marks[0]}`);
  await afterRender(page, () => page.getByLabel('Search').fill('ZOË'));
  const actors = await page.locator('#rows .actor mark').allInnerTexts();
  assert.ok(actors.length > 0 && actors.every((m) => m === 'zoë'), `a username matched across cases: ${actors}`);
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  assert.equal(await page.locator('#rows mark').count(), 0, 'no search, no marks');
  log('search: the matches are marked in messages and usernames, across cases');

  run.step = 'failures stand out';
  const catalog = await apiJson('/catalog');
  const failing = new Set(catalog.categories.flatMap((c) => c.types).filter((t) => t.outcome === 'failure').map((t) => t.type));
  const page1 = (await apiJson('/events?limit=50')).events;
  assert.ok(page1.some((e) => failing.has(e.type)) && page1.some((e) => !failing.has(e.type)), 'both kinds on the first page');
  for (const e of page1) {
    const marker = page.locator(`#rows tr[data-id="${e.id}"] .outcome-failure`);
    assert.equal(await marker.count(), failing.has(e.type) ? 1 : 0, `${e.type} marked as its outcome says`);
    if (failing.has(e.type)) assert.equal(await marker.innerText(), 'Failure');
  }
  log(`failures: ${page1.filter((e) => failing.has(e.type)).length} of the first 50 rows marked "Failure", by the catalog's outcome`);

  run.step = 'click to filter';
  const someone = page1.find((e) => e.actor !== 'system');
  await afterRender(page, () => page.locator(`#rows tr[data-id="${someone.id}"]`).getByTitle('Show only this username').click());
  assert.equal(await page.getByLabel('Username').inputValue(), someone.actor);
  assert.deepEqual(await shownIds(page), (await apiJson(`/events?actor=${encodeURIComponent(someone.actor)}&limit=50`)).events.map((e) => e.id));
  const row0 = (await apiJson(`/events?actor=${encodeURIComponent(someone.actor)}&limit=1`)).events[0];
  const label = catalog.categories.find((c) => c.code === row0.category).label;
  await afterRender(page, () => page.locator(`#rows tr[data-id="${row0.id}"]`).getByTitle('Show only this category').click());
  assert.equal(seen.last.category, row0.category, 'only that category');
  assert.equal(seen.last.actor, someone.actor, 'the username stays');
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  await page.locator(`#rows tr[data-id="${page1[0].id}"] button.message`).click();
  await page.getByRole('dialog').waitFor();
  const hidden = page1[0].category;
  const hiddenLabel = catalog.categories.find((c) => c.code === hidden).label;
  await afterRender(page, () => page.getByRole('button', { name: `Hide category ${hiddenLabel}` }).click());
  assert.ok(await page.getByRole('dialog').isHidden());
  const others = catalog.categories.map((c) => c.code).filter((c) => c !== hidden);
  assert.deepEqual(seen.last.category.split(','), others, 'every category but the hidden one');
  assert.deepEqual(await shownIds(page), (await apiJson(`/events?category=${others.join(',')}&limit=50`)).events.map((e) => e.id));
  assert.ok((await shownIds(page)).every((id) => id !== page1[0].id));
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log(`click to filter: username ${someone.actor}, then category ${label}; "Hide category ${hiddenLabel}" from the detail`);

  run.step = 'how many match';
  await page.waitForFunction(
    () => Number(document.documentElement.dataset.counted || 0) >= 1 || /could not/.test(document.getElementById('count').textContent),
  );
  assert.doesNotMatch(await page.locator('#count').innerText(), /could not/);
  const all = await apiJson('/counts?bucket=day');
  assert.equal(await page.locator('#count').innerText(), `${all.total.toLocaleString('en-US')} events match.`);
  assert.equal(await page.locator('#histogram button').count(), all.buckets.length, 'a bar a day');
  // Last 7 days: a bar an hour; a click on one narrows the period to its hour.
  // The histogram shown is the one of `buckets` bars (a count asked for earlier may answer late).
  const bars = (n) => page.waitForFunction((k) => document.querySelectorAll('#histogram button').length === k, n);
  await afterRender(page, () => page.getByLabel('Period').selectOption('7d'));
  const week = await apiJson(`/counts?from=${encodeURIComponent(seen.last.from)}&bucket=hour`);
  await bars(week.buckets.length); // a bar an hour
  // A drag across three bars narrows the period to their three hours.
  const box = async (i) => page.locator('#histogram button').nth(i).boundingBox();
  const [b1, b3] = [await box(100), await box(102)];
  await afterRender(page, async () => {
    await page.mouse.move(b1.x + b1.width / 2, b1.y + b1.height - 1);
    await page.mouse.down();
    await page.mouse.move(b3.x + b3.width / 2, b3.y + b3.height - 1, { steps: 4 });
    await page.mouse.up();
  });
  assert.equal(seen.last.from, week.buckets[100].start.replace('.000000Z', '.000Z'), 'the drag starts at its first bar');
  assert.equal(Date.parse(seen.last.to) - Date.parse(seen.last.from), 3 * 3600e3, 'and ends with its last');
  await bars(3);
  await afterRender(page, () => page.getByLabel('Period').selectOption('7d'));
  const again = await apiJson(`/counts?from=${encodeURIComponent(seen.last.from)}&bucket=hour`);
  await bars(again.buckets.length);
  const busiest = again.buckets.reduce((a, b) => (b.count > a.count ? b : a));
  const bar = page.locator('#histogram button').nth(again.buckets.indexOf(busiest));
  assert.match(await bar.getAttribute('aria-label'), new RegExp(`: ${busiest.count.toLocaleString('en-US')} events?$`));
  await afterRender(page, () => bar.click());
  await bars(1);
  assert.equal(seen.last.from, busiest.start.replace('.000000Z', '.000Z'), 'the period starts at the bar');
  assert.equal(Date.parse(seen.last.to) - Date.parse(seen.last.from), 3600e3, 'and lasts its hour');
  assert.equal(await page.getByLabel('Period').inputValue(), 'custom');
  assert.equal(await page.locator('#count').innerText(), `${busiest.count.toLocaleString('en-US')} ${busiest.count === 1 ? 'event matches' : 'events match'}.`);
  assert.deepEqual(await shownIds(page), await apiIds({ from: seen.last.from, to: seen.last.to }).then((ids) => ids.slice(0, 50)));
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log(`how many match: ${all.total} in all (${all.buckets.length} day bars); a drag across three hour bars and a click on the busiest hour of the week (${busiest.count}) narrowed the period to them`);

  run.step = 'exports list and NDJSON';
  await afterRender(page, () => page.getByLabel('Username').fill('dana.admin'));
  await page.getByLabel('Export format').selectOption('ndjson');
  await page.getByRole('button', { name: 'Export NDJSON' }).click();
  const ndLink = page.getByRole('link', { name: /Download NDJSON/ });
  await ndLink.waitFor({ timeout: 30000 });
  const danaIds = await apiIds({ actor: 'dana.admin' });
  assert.equal(await ndLink.innerText(), `Download NDJSON (${danaIds.length} rows)`);
  const ndText = await (await fetch(await ndLink.getAttribute('href'))).text();
  assert.deepEqual(ndText.trim().split('\n').map((line) => JSON.parse(line).id), danaIds, 'a line per event, as listed');
  await page.getByRole('button', { name: 'Dismiss the export' }).click();
  await page.getByLabel('Export format').selectOption('csv');
  // The recent exports: the API's list, newest first, with filters in words and a fresh link.
  await page.getByText('Your recent exports').click();
  await page.locator('#exports-list li').first().waitFor();
  const mine = (await apiJson('/exports?limit=20')).exports;
  assert.deepEqual(await page.locator('#exports-list li').evaluateAll((items) => items.map((li) => li.dataset.id)), mine.map((j) => j.id));
  const newest = page.locator('#exports-list li').first();
  assert.match(await newest.innerText(), /NDJSON, username dana\.admin: Download \(\d+ rows\)/);
  const listedText = await (await fetch(await newest.getByRole('link').getAttribute('href'))).text();
  assert.equal(listedText, ndText, 'its link downloads the same file');
  await noAxeViolations(page, 'the recent exports');
  await page.getByText('Your recent exports').click();
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log(`exports: NDJSON of ${danaIds.length} events, a line each; "Your recent exports" lists ${mine.length}, newest first, with working links`);

  run.step = 'username suggestions';
  await afterRender(page, () => page.getByLabel('Username').fill('DANA'));
  await page.waitForFunction(() => document.getElementById('actor-suggestions').dataset.prefix === 'DANA');
  const offered = await page.locator('#actor-suggestions option').evaluateAll((options) => options.map((o) => o.value));
  assert.deepEqual(offered, (await apiJson('/actors?prefix=DANA&limit=10')).actors, 'the API\'s suggestions');
  assert.ok(offered.includes('dana.admin'), `found whatever the case: ${offered}`);
  assert.equal(await page.getByLabel('Username').getAttribute('list'), 'actor-suggestions');
  assert.equal((await shownIds(page)).length, 0, 'the filter stays exact: nobody is "DANA"');
  await afterRender(page, () => page.getByLabel('Username').fill('dana.admin'));
  assert.deepEqual(await shownIds(page), (await apiJson('/events?actor=dana.admin&limit=50')).events.map((e) => e.id));
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log(`username suggestions: "DANA" offers ${offered.join(', ')} (GET /actors); the filter stays exact`);

  run.step = 'types, order, failures only, hiding';
  const apiShown = async (query) => (await apiJson(`/events?${query}&limit=50`)).events.map((e) => e.id);
  // The type picker: the catalog's types grouped by category, found by typing.
  await page.locator('#f-type summary').click();
  const allTypes = await page.locator('#f-type-options label').count();
  assert.equal(allTypes, catalog.types, 'every type of the catalog');
  const grouped = catalog.categories.filter((c) => c.types.length).map((c) => c.label);
  assert.deepEqual(await page.locator('#f-type-options legend').allInnerTexts(), grouped, 'grouped by category');
  await page.getByLabel('Find an event type').fill('LOGIN');
  const found = await page.locator('#f-type-options label:visible').allInnerTexts();
  assert.ok(found.length > 0 && found.length < allTypes, `typing finds some types: ${found}`);
  assert.ok(found.includes('Failed login attempt …'), 'the type is named by its message');
  await afterRender(page, () => page.getByLabel('Failed login attempt …').check());
  await page.keyboard.press('Escape');
  assert.equal(seen.last.type, 'auth.login_failed');
  assert.equal(new URL(page.url()).searchParams.get('type'), 'auth.login_failed', 'the type is in the URL');
  assert.equal(await page.locator('#f-type-summary').innerText(), 'Failed login attempt …');
  assert.deepEqual(await shownIds(page), await apiShown('type=auth.login_failed'));
  // Oldest first; auto-refresh (new events on top) needs newest first.
  await afterRender(page, () => page.getByLabel('Order').selectOption('asc'));
  assert.equal(seen.last.order, 'asc');
  assert.deepEqual(await shownIds(page), await apiShown('type=auth.login_failed&order=asc'));
  assert.ok(await page.getByLabel('Auto-refresh').isDisabled(), 'auto-refresh is off for oldest first');
  assert.match(await page.locator('#summary').innerText(), /oldest first/);
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  // Failures only: the catalog's failure types.
  await afterRender(page, () => page.getByLabel('Failures only').check());
  assert.equal(seen.last.outcome, 'failure');
  const failuresShown = await shownIds(page);
  assert.deepEqual(failuresShown, await apiShown('outcome=failure'));
  assert.equal(await page.locator('#rows tr .outcome-failure').count(), failuresShown.length, 'every row is a failure');
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  // A row's type lists only it, a custom type too (it joins the picker under "Custom types").
  const custom = page1.find((e) => e.type.startsWith('custom.'));
  await afterRender(page, () => page.locator(`#rows tr[data-id="${custom.id}"]`).getByTitle('Show only this type').click());
  assert.equal(seen.last.type, custom.type);
  assert.deepEqual(await shownIds(page), await apiShown(`type=${custom.type}`));
  assert.ok(await page.locator(`#f-type-options input[value="${custom.type}"]`).isChecked());
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  // Hiding a username and a type from the detail; each hidden thing can be shown again.
  const hideMe = page1.find((e) => e.actor !== 'system');
  await page.locator(`#rows tr[data-id="${hideMe.id}"] button.message`).click();
  await afterRender(page, () => page.getByRole('button', { name: `Hide username ${hideMe.actor}` }).click());
  assert.equal(seen.last.not_actor, hideMe.actor);
  const withoutActor = await shownIds(page);
  assert.deepEqual(withoutActor, await apiShown(`not_actor=${encodeURIComponent(hideMe.actor)}`));
  assert.ok(!withoutActor.includes(hideMe.id));
  const next = await apiJson(`/events/${withoutActor[0]}`);
  await page.locator(`#rows tr[data-id="${next.id}"] button.message`).click();
  await afterRender(page, () => page.getByRole('button', { name: `Hide type ${next.type}` }).click());
  assert.deepEqual([seen.last.not_actor, seen.last.not_type], [hideMe.actor, next.type]);
  assert.deepEqual(await shownIds(page), await apiShown(`not_actor=${encodeURIComponent(hideMe.actor)}&not_type=${next.type}`));
  await afterRender(page, () => page.getByRole('button', { name: `Show username ${hideMe.actor} again` }).click());
  assert.equal(seen.last.not_actor, undefined);
  assert.equal(seen.last.not_type, next.type, 'the hidden type stays hidden');
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  assert.equal(seen.last.not_type, next.type, 'what is hidden is in the URL');
  assert.ok(await page.getByRole('button', { name: `Show type ${next.type} again` }).isVisible());
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log(`types: ${found.length} of ${allTypes} found by "LOGIN", one chosen; oldest first; ${failuresShown.length} failures only; a custom type from a row; hide username ${hideMe.actor} and type ${next.type}, shown again`);

  run.step = 'accessibility';
  await mkdir(SHOTS, { recursive: true });
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await page.goto(`${BASE}/`);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    await noAxeViolations(page, `the journal at ${width} px`);
    await page.locator('#f-category summary').click();
    await noAxeViolations(page, `the filters (category list open) at ${width} px`);
    await page.keyboard.press('Escape');
    await page.locator('#f-type summary').click();
    await page.getByLabel('Find an event type').fill('failed');
    await noAxeViolations(page, `the filters (type picker open) at ${width} px`);
    await page.screenshot({ path: path.join(SHOTS, `types-${width}.png`) });
    await page.getByLabel('Find an event type').fill('');
    await page.keyboard.press('Escape');
    await page.locator('#rows button.message').first().click();
    await page.getByRole('dialog').waitFor();
    await noAxeViolations(page, `the detail view at ${width} px`);
    await page.screenshot({ path: path.join(SHOTS, `detail-${width}.png`) });
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    // Export at once after typing: the typed filter is applied first, and exported.
    await page.getByLabel('Username').fill('dana.admin');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const download = page.getByRole('link', { name: /Download CSV/ });
    await download.waitFor({ timeout: 30000 });
    const rows = (await apiIds({ actor: 'dana.admin' })).length;
    assert.equal(await download.innerText(), `Download CSV (${rows} rows)`, 'the export holds the filter just typed');
    assert.equal((await shownIds(page)).length, 50, 'and the list below shows it');
    assert.ok(await page.locator('#export-stale').isHidden());
    await noAxeViolations(page, `the export panel at ${width} px`);
    await page.screenshot({ path: path.join(SHOTS, `export-${width}.png`) });
    await page.getByRole('button', { name: 'Dismiss the export' }).click();
  }
  log('axe-core: no violations on the journal, the filters, the detail view and the export panel, at 1280 and 390 px');

  await browser.close();
}

runMain(main);
