// The admin UI in a real browser: headless Chromium (Debian's package) driven by playwright-core.
// Run by tests/tests/ui.rs against a local server it has seeded; on its own:
//   AUDIT_URL=http://127.0.0.1:8080 AUDIT_READ_TOKEN=… AUDIT_INGEST_TOKEN=… node tests/ui/journal.mjs
// Every listing the page shows is compared with what the API returns for the same filters (the
// filters the page actually sent, captured from its requests). Any console error fails the run,
// except the failed-load messages of the steps that provoke a 401, a 403 or a 500 on purpose.
import assert from 'node:assert/strict';
import { readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  BASE,
  INGEST,
  READ,
  SHOTS,
  afterRender,
  apiIds,
  apiJson,
  log,
  openBrowser,
  run,
  runMain,
  shownIds,
  watchListings,
} from './lib.mjs';

const ACTOR = process.env.AUDIT_UI_ACTOR || 'dana.admin';
const SEARCH = process.env.AUDIT_UI_SEARCH || 'signing key';
const MAX_PAGE_BYTES = 150 * 1024;

// Clicks "Load more" until the journal's end; returns every id shown.
async function loadAll(page) {
  for (let pages = 1; await page.locator('#more').isVisible(); pages++) {
    assert.ok(pages < 100, 'the journal ends');
    await afterRender(page, () => page.getByRole('button', { name: 'Load more' }).click());
  }
  return shownIds(page);
}

async function checkListing(page, seen, what, { expectSome = true } = {}) {
  const expected = await apiIds(seen.last);
  const first = await shownIds(page);
  assert.deepEqual(first, expected.slice(0, 50), `${what}: the first page equals the API's`);
  const all = await loadAll(page);
  assert.deepEqual(all, expected, `${what}: every page equals the API's`);
  if (expectSome) assert.ok(all.length > 0, `${what}: some events`);
  await page.getByText(`All ${all.length.toLocaleString('en-US')} matching`).waitFor();
  log(`${what}: ${all.length} events, equal to the API's (filters ${JSON.stringify(seen.last)})`);
  return all;
}

async function main() {
  await mkdir(SHOTS, { recursive: true });
  const { browser, page } = await openBrowser();
  const seen = watchListings(page);
  const assetBytes = new Map();
  page.on('response', async (response) => {
    const url = new URL(response.url());
    if (url.origin !== new URL(BASE).origin) return;
    if (['/', '/app.js', '/app.css', '/config.js'].includes(url.pathname)) {
      assetBytes.set(url.pathname, (await response.body()).length);
    }
  });

  run.step = 'sign-in';
  await page.goto(`${BASE}/`);
  const token = page.getByLabel('Read token');
  await token.waitFor();
  run.allowedConsole = /status of 40[13]/;
  await token.fill('not-a-token');
  await page.getByRole('button', { name: 'Open journal' }).click();
  await page.getByText('The token was not accepted (401)').waitFor();
  await token.fill(INGEST);
  await page.getByRole('button', { name: 'Open journal' }).click();
  await page.getByText('needs a token of role read').waitFor();
  run.allowedConsole = null;
  await afterRender(page, async () => {
    await token.fill(READ);
    await page.getByRole('button', { name: 'Open journal' }).click();
  });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('audit-log.read-token')), READ);
  log('401 and 403 shown plainly; the read token opens the journal and is kept in sessionStorage');

  run.step = 'journal';
  const firstPage = await apiJson('/events?limit=50');
  assert.deepEqual(await shownIds(page), firstPage.events.map((e) => e.id), 'the first page, newest first');
  const top = firstPage.events[0];
  const topRow = page.locator(`#rows tr[data-id="${top.id}"]`);
  const title = await topRow.locator('time').getAttribute('title');
  assert.ok(title.includes(top.time) && title.includes(top.id), 'UTC time and id on hover');
  const system = firstPage.events.find((e) => e.actor === 'system');
  assert.ok(system, 'a system event on the first page');
  assert.match(await page.locator(`#rows tr[data-id="${system.id}"] .actor`).getAttribute('class'), /\bactor system\b/);
  const timed = firstPage.events.find((e) => e.duration_ms >= 60000);
  if (timed) {
    const text = await page.locator(`#rows tr[data-id="${timed.id}"] td.duration`).innerText();
    assert.match(text, /^\d+ (d|h|min)( \d+ (h|min|s))?$/, `human duration for ${timed.duration_ms} ms: ${text}`);
  }
  // The seal in the header: sealed through the newest digest's end, and the badge when the
  // newest check found a problem (the test changed one event behind the API and checked).
  const integrity = await apiJson('/integrity');
  assert.ok(integrity.sealed_through, 'the test sealed the log');
  await page.locator('#seal').waitFor();
  assert.match(await page.locator('#seal-text').textContent(), /^Sealed through /);
  if (process.env.AUDIT_UI_ALARM) {
    const badge = await page.locator('#seal-alarm').textContent();
    assert.equal(badge, `Integrity check failed: ${integrity.last_check.problem_count} problem${integrity.last_check.problem_count === 1 ? '' : 's'}`);
  } else {
    assert.ok(await page.locator('#seal-alarm').isHidden(), 'no badge while the check holds');
  }
  log(`the header says the log is sealed through ${integrity.sealed_through}, with the check's badge`);
  await page.screenshot({ path: path.join(SHOTS, 'journal-1280.png') });
  await checkListing(page, { last: {} }, 'no filter');

  run.step = 'actor';
  await afterRender(page, () => page.getByLabel('Username').fill(ACTOR));
  const byActor = await checkListing(page, seen, `username ${ACTOR}`);
  assert.ok(byActor.length > 50, 'the actor has more than one page');
  assert.equal(new URL(page.url()).searchParams.get('actor'), ACTOR, 'the filter is in the URL');
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.renders === '1' && document.documentElement.dataset.state === 'ready');
  assert.equal(await page.getByLabel('Username').inputValue(), ACTOR, 'reload keeps the filter');
  assert.deepEqual(await shownIds(page), byActor.slice(0, 50), 'reload shows the same rows');
  await afterRender(page, () => page.getByLabel('Username').fill(''));

  run.step = 'date range';
  await afterRender(page, () => page.getByLabel('Period').selectOption('7d'));
  await checkListing(page, seen, 'last 7 days');
  assert.ok(seen.last.from, 'the preset sends a start');
  const localDate = (daysAgo) => {
    const d = new Date(Date.now() - daysAgo * 86400e3);
    const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Los_Angeles' }).format(d);
    return parts; // YYYY-MM-DD
  };
  await page.getByLabel('Period').selectOption('custom');
  await afterRender(page, () => page.getByLabel('From').fill(`${localDate(12)}T00:00`));
  await afterRender(page, () => page.getByLabel('To', { exact: true }).fill(`${localDate(5)}T00:00`));
  await checkListing(page, seen, `custom ${localDate(12)} to ${localDate(5)} (local midnights)`);
  assert.equal(new URL(page.url()).searchParams.get('from'), `${localDate(12)}T00:00`);
  // The custom range is local days: its bounds are local midnights (UTC-8 or UTC-7 here).
  assert.match(seen.last.from, /T0[78]:00:00\.000Z$/, `local midnight as UTC: ${seen.last.from}`);
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());

  run.step = 'search';
  await afterRender(page, () => page.getByLabel('Search').fill(SEARCH));
  await checkListing(page, seen, `search "${SEARCH}"`);
  assert.equal(new URL(page.url()).searchParams.get('q'), SEARCH);
  await afterRender(page, () => page.getByLabel('Search').fill('no-such-text-anywhere'));
  await page.getByText('No events match these filters.').waitFor();
  assert.equal(await page.locator('#rows tr').count(), 0);
  await afterRender(page, () => page.getByLabel('Search').fill(''));

  run.step = 'category';
  await page.locator('#f-category summary').click();
  await afterRender(page, () => page.getByLabel('User Authentication').check());
  await afterRender(page, () => page.getByLabel('Object Management').check());
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#f-category').getAttribute('open'), null, 'Escape closes the list');
  assert.equal(await page.locator('#f-category-summary').textContent(), '2 categories');
  await checkListing(page, seen, 'two categories');
  assert.equal(new URL(page.url()).searchParams.get('category'), 'auth,object');
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());

  run.step = 'detail';
  await page.getByRole('button', { name: top.message, exact: true }).first().click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const stored = await apiJson(`/events/${top.id}`);
  const text = await dialog.textContent();
  for (const value of [stored.id, stored.time, stored.received_at, stored.source, stored.type, stored.actor]) {
    assert.ok(text.includes(value), `the detail shows ${value}`);
  }
  assert.deepEqual(JSON.parse(await page.locator('#detail-params').textContent()), stored.params, 'params');
  const [proofFile] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download proof of integrity' }).click(),
  ]);
  const proof = JSON.parse(await readFile(await proofFile.path(), 'utf8'));
  assert.deepEqual(proof, await apiJson(`/events/${top.id}/proof`), 'the saved proof is the API\'s');
  assert.equal(proof.event.id, top.id);
  assert.equal(proofFile.suggestedFilename(), `proof-${top.id}.json`);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  log('the detail shows every field of GET /events/{id}, params included, saves its proof; Escape closes it');

  run.step = 'export';
  await afterRender(page, () => page.getByLabel('Username').fill(ACTOR));
  await afterRender(page, () => page.getByLabel('Search').fill(SEARCH));
  const exportFilters = { ...seen.last };
  await page.getByRole('button', { name: 'Export CSV' }).click();
  const link = page.getByRole('link', { name: /Download CSV/ });
  await link.waitFor({ timeout: 30000 });
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const csv = await readFile(await download.path(), 'utf8');
  assert.ok(csv.startsWith('\ufeff'), 'the CSV starts with the BOM that Excel needs');
  const lines = csv.slice(1).trimEnd().split(/\r?\n/);
  assert.equal(lines[0], 'time,actor,category,type,message,duration_ms,id,received_at,source');
  const expected = await apiIds(exportFilters);
  assert.deepEqual(lines.slice(1).map((l) => l.split(',').at(-3)), expected, 'the CSV holds the listing');
  assert.ok(expected.length > 0);
  assert.match(download.suggestedFilename(), /^audit-log-.*\.csv$/);
  log(`export: ${expected.length} rows downloaded as ${download.suggestedFilename()}, equal to the listing`);

  run.step = 'keyboard';
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.getByLabel('Period').focus();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => {
    const node = document.activeElement;
    const style = getComputedStyle(node);
    return { id: node.id, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
  });
  assert.ok(focused.id === 'f-actor', `Tab moves to the next filter (${focused.id})`);
  assert.ok(focused.outline !== 'none' && focused.width >= 2, 'focus is visible');
  const unlabeled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select')]
      .filter((node) => node.type !== 'hidden' && node.labels.length === 0)
      .map((node) => node.id || node.name),
  );
  assert.deepEqual(unlabeled, [], 'every input has a label');

  run.step = 'error state';
  run.allowedConsole = /status of 500/;
  await page.route('**/events?**', (route) =>
    route.fulfill({
      status: 500,
      contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'the store is unavailable' }),
    }),
  );
  await page.getByLabel('Search').fill('anything');
  await page.getByText('The journal could not be loaded. Internal Server Error: the store is unavailable').waitFor();
  await page.unroute('**/events?**');
  run.allowedConsole = null;
  await afterRender(page, () => page.getByRole('button', { name: 'Clear filters' }).click());

  run.step = 'narrow';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(100);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 390, `no horizontal scrolling at 390 px (${overflow})`);
  await page.screenshot({ path: path.join(SHOTS, 'journal-390.png') });

  run.step = 'sign-out';
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('button', { name: 'Forget token' }).click();
  await page.getByLabel('Read token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('audit-log.read-token')), null);

  const total = [...assetBytes.values()].reduce((a, b) => a + b, 0);
  log(`page size: ${total} bytes uncompressed (${[...assetBytes].map(([p, b]) => `${p} ${b}`).join(', ')})`);
  assert.equal(assetBytes.size, 4, 'the page loads its four files');
  assert.ok(total <= MAX_PAGE_BYTES, `the page is at most ${MAX_PAGE_BYTES} bytes`);

  await browser.close();
  log(`screenshots in ${SHOTS}`);
}

runMain(main);
