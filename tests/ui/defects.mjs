// The admin UI's defects found by an admin investigating (issue 16), each a step that failed on
// the page before its fix. Run by tests/tests/ui.rs against a seeded local server whose download
// links live AUDIT_UI_LINK_SECS seconds; on its own:
//   AUDIT_URL=… AUDIT_READ_TOKEN=… AUDIT_INGEST_TOKEN=… AUDIT_UI_LINK_SECS=4 node tests/ui/defects.mjs
// Outages are made in the browser (its requests to the API fail or wait), as a stopped server or
// a slow network looks to the page.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  afterRender,
  apiJson,
  log,
  need,
  openBrowser,
  record,
  run,
  runMain,
  shownIds,
  signIn,
  watchListings,
} from './lib.mjs';

const LINK_SECS = Number(need('AUDIT_UI_LINK_SECS'));
const UNREACHABLE = /Failed to load resource|ERR_FAILED|ERR_CONNECTION/;

const state = (page) => page.evaluate(() => document.documentElement.dataset.state);
const text = (page, selector) => page.locator(selector).innerText();
const localDate = (daysFromNow) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Los_Angeles' }).format(new Date(Date.now() + daysFromNow * 86400e3));

// Every GET /events the page sends while `action` runs.
async function listingsDuring(page, action) {
  const sent = [];
  const watch = (request) => {
    if (new URL(request.url()).pathname === '/events') sent.push(request.url());
  };
  page.on('request', watch);
  await action();
  page.off('request', watch);
  return sent;
}

async function main() {
  const { browser, page } = await openBrowser();
  const seen = watchListings(page);

  run.step = '7. focus after signing in';
  await signIn(page);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-q', 'signed in, the search field has the focus');

  run.step = '10. time zone, header row, durations';
  assert.match(await text(page, 'thead th:first-child'), /^Time \(America\/Los_Angeles\)$/);
  const durations = await page.locator('#rows td.duration').evaluateAll((cells) => cells.map((c) => c.innerText));
  for (const duration of durations) {
    assert.match(duration, /^(—|\d+ ms|\d+ (d|h|min|s)( \d+ (h|min|s))?)$/, `one style of duration: ${duration}`);
  }
  await page.mouse.wheel(0, 1500);
  await page.waitForFunction(() => window.scrollY > 1000);
  const header = await page.locator('thead th').first().boundingBox();
  assert.ok(header.y >= 0 && header.y < 5, `the header row stays in sight (at ${header.y} px)`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByLabel('Period').selectOption('custom');
  assert.equal(new URL(page.url()).searchParams.get('range'), 'custom', '"Custom range" is in the URL at once');
  await afterRender(page, () => page.getByLabel('Period').selectOption('all'));
  log('the time column names its zone, the header row stays, durations read alike, custom range in the URL');

  run.step = '7. focus after "Load more"';
  await afterRender(page, () => page.getByRole('button', { name: 'Load more' }).click());
  const focused = await page.evaluate(() => {
    const node = document.activeElement;
    return { inRows: document.getElementById('rows').contains(node), row: [...node.closest('tbody')?.children ?? []].indexOf(node.closest('tr')) };
  });
  assert.deepEqual(focused, { inRows: true, row: 50 }, 'the focus is on the first new row');
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log('focus: the search field after signing in, the first new row after "Load more"');

  run.step = '3. loading state';
  await page.route('**/events?**', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await route.continue();
  });
  const before = (await shownIds(page)).length;
  await page.getByLabel('Username').fill('dana.admin');
  await page.waitForFunction(() => document.documentElement.dataset.state === 'loading');
  assert.equal(await text(page, '#summary'), 'Loading…', 'the summary says the list is loading');
  assert.equal(await page.locator('#events').getAttribute('aria-busy'), 'true');
  assert.equal((await shownIds(page)).length, before, 'the rows stay (dimmed) until the new ones come');
  assert.ok(await page.locator('#empty').isHidden(), 'no "nothing found" while loading');
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  await page.unroute('**/events?**');
  assert.match(await text(page, '#summary'), /shown/);
  log('loading: the rows stay dimmed, the summary says "Loading…"');

  run.step = '2. errors: a failed first page, recovery';
  run.allowedConsole = UNREACHABLE;
  await page.route('**/events?**', (route) => route.abort('connectionrefused'));
  await page.getByLabel('Username').fill('');
  await page.locator('#error').waitFor();
  assert.match(await text(page, '#error-text'), /^The journal could not be loaded\. The audit-log API could not be reached/);
  assert.equal((await shownIds(page)).length, 0, 'no rows of other filters stay');
  assert.ok(await page.locator('#more').isHidden(), 'no "Load more"');
  assert.doesNotMatch(await text(page, '#summary'), /more are available|shown, newest/);
  assert.ok(await page.getByRole('button', { name: 'Retry' }).isVisible(), 'a Retry button');
  await page.unroute('**/events?**');
  // The server is back: the page asks again by itself.
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready', null, { timeout: 10000 });
  assert.ok(await page.locator('#error').isHidden());
  assert.equal((await shownIds(page)).length, 50);
  run.allowedConsole = null;

  run.step = '2. errors: a failed "Load more"';
  run.allowedConsole = UNREACHABLE;
  await page.route(/\/events\?.*cursor=/, (route) => route.abort('connectionrefused'));
  await page.getByRole('button', { name: 'Load more' }).click();
  await page.locator('#more-error').waitFor();
  assert.ok(await page.locator('#error').isHidden(), 'the error is beside "Load more", not at the top');
  assert.match(await text(page, '#more-error'), /^More events could not be loaded/);
  assert.equal((await shownIds(page)).length, 50, 'the rows shown stay');
  assert.ok(await page.getByRole('button', { name: 'Load more' }).isEnabled());
  await page.unroute(/\/events\?.*cursor=/);
  await afterRender(page, () => page.getByRole('button', { name: 'Load more' }).click());
  assert.equal((await shownIds(page)).length, 100);
  assert.ok(await page.locator('#more-error').isHidden());
  run.allowedConsole = null;
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log('errors: nothing stale stays, the page recovers by itself, "Load more" fails in place and retries');

  run.step = '8. dates checked in the page';
  await page.getByLabel('Period').selectOption('custom');
  let sent = await listingsDuring(page, async () => {
    await page.getByLabel('From').fill(`${localDate(2)}T00:00`);
    await page.locator('#range-error').waitFor();
  });
  assert.match(await text(page, '#range-error'), /in the future/);
  assert.deepEqual(sent, [], 'a future date is not sent');
  assert.equal((await shownIds(page)).length, 0);
  assert.ok(await page.getByRole('button', { name: 'Export CSV' }).isDisabled(), 'nothing to export');
  await afterRender(page, () => page.getByLabel('From').fill(`${localDate(-10)}T00:00`));
  assert.ok(await page.locator('#range-error').isHidden());
  sent = await listingsDuring(page, async () => {
    await page.getByLabel('To', { exact: true }).fill(`${localDate(-12)}T00:00`);
    await page.waitForFunction(() => /not before the end/.test(document.getElementById('range-error').textContent));
  });
  assert.deepEqual(sent, [], 'an inverted range is not sent');
  assert.equal(await page.getByLabel('From').getAttribute('aria-invalid'), '');
  await afterRender(page, () => page.getByLabel('To', { exact: true }).fill(`${localDate(-8)}T00:00`));
  assert.ok(await page.locator('#range-error').isHidden());
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log('dates: an inverted range and future dates are named in the page, nothing is asked');

  run.step = '5. history while typing';
  const entries = await page.evaluate(() => history.length);
  await page.getByLabel('Search').click();
  await page.keyboard.type('signing', { delay: 250 });
  await page.waitForFunction(() => new URLSearchParams(location.search).get('q') === 'signing');
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  assert.equal(await page.evaluate(() => history.length), entries + 1, 'typing adds one history entry');
  await afterRender(page, () => page.goBack());
  assert.equal(new URL(page.url()).searchParams.get('q'), null, 'Back returns to before the typing');
  assert.equal(await page.getByLabel('Search').inputValue(), '');
  log('history: typing "signing" added one entry; Back leaves the search');

  run.step = '6. Enter and Refresh';
  const fresh = {
    id: crypto.randomUUID(),
    time: new Date().toISOString(),
    actor: 'erin.enter',
    type: 'custom.enter_test',
    message: 'Pressed Enter',
  };
  await record([fresh]);
  await page.getByLabel('Username').focus();
  await afterRender(page, () => page.keyboard.press('Enter'));
  assert.equal((await shownIds(page))[0], fresh.id, 'Enter in a filter lists what is new');
  await page.getByLabel('Username').fill('erin.enter');
  await afterRender(page, () => page.keyboard.press('Enter'));
  assert.deepEqual(await shownIds(page), [fresh.id], 'Enter applies the filter at once');
  await afterRender(page, () => page.getByRole('button', { name: 'Refresh' }).click());
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  log('Enter in a filter and the Refresh button list the filters now');

  run.step = '1. the export panel';
  await afterRender(page, () => page.getByLabel('Period').selectOption('7d'));
  await page.locator('#f-category summary').click();
  await afterRender(page, () => page.getByLabel('User Authentication').check());
  await page.keyboard.press('Escape');
  const exports = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/exports') exports.push(request.url());
  });
  await page.getByRole('button', { name: 'Export CSV' }).click();
  const link = page.getByRole('link', { name: /Download CSV/ });
  await link.waitFor({ timeout: 30000 });
  const made = await text(page, '#export-filters');
  assert.match(made, /^Made with: Last 7 days \(since .+\) · category User Authentication\.$/, made);
  assert.ok(await page.locator('#export-stale').isHidden(), 'the list shows the export\'s filters');
  await afterRender(page, () => page.getByLabel('Search').fill('failed'));
  assert.equal(await text(page, '#export-stale'), 'Made with other filters than the list below.');
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  assert.ok(await page.locator('#export-stale').isVisible(), 'still marked after Clear filters');
  log('export panel: says its filters, marked when the list shows others');

  run.step = '4. a download link past its lifetime';
  await page.waitForTimeout((LINK_SECS + 1) * 1000);
  const statusCalls = [];
  page.on('request', (request) => {
    if (/^\/exports\/[^/]+$/.test(new URL(request.url()).pathname)) statusCalls.push(request.url());
  });
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const csv = await readFile(await download.path(), 'utf8');
  assert.ok(csv.startsWith('\ufefftime,actor,category,type,message'), `the CSV, not an error: ${csv.slice(0, 80)}`);
  assert.equal(statusCalls.length, 1, 'a fresh link was asked for');
  assert.equal(exports.length, 1, 'no second export');
  log(`download: a link ${LINK_SECS + 1} s old (lifetime ${LINK_SECS} s) was fetched afresh and downloaded`);

  run.step = '1. dismissing the export panel';
  await page.getByRole('button', { name: 'Dismiss the export' }).click();
  assert.ok(await page.locator('#export-panel').isHidden());
  assert.equal(await page.evaluate(() => document.activeElement.id), 'export');

  run.step = '9. cards at 390 px';
  await page.setViewportSize({ width: 390, height: 844 });
  const long = (await apiJson('/events?q=reconciliation&limit=5')).events.find((e) => e.message.length > 3000);
  assert.ok(long, 'the seeded long message');
  await afterRender(page, () => page.getByLabel('Search').fill('reconciliation'));
  const card = page.locator(`#rows tr[data-id="${long.id}"]`);
  const clamped = (await card.boundingBox()).height;
  assert.ok(clamped < 300, `a 3.7k-character message is clamped (${clamped} px)`);
  await card.getByRole('button', { name: 'Show more' }).click();
  const open = (await card.boundingBox()).height;
  assert.ok(open > 1000, `"Show more" shows it all (${open} px)`);
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());
  const timed = (await apiJson('/events?limit=50')).events.find((e) => e.duration_ms !== undefined);
  assert.ok(timed, 'a timed event on the first page');
  const cell = await page.locator(`#rows tr[data-id="${timed.id}"] td.duration`).innerText();
  assert.match(cell, /^Duration \d+/, `the duration is labelled in a card: ${cell}`);
  assert.ok(seen.last, 'listings were watched');
  assert.equal(await state(page), 'ready');
  log('cards: the duration is labelled, a long message is clamped with "Show more"');

  await browser.close();
}

runMain(main);
