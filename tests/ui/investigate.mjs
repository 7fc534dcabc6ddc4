// What an admin investigating uses (issue 16's features), each a step: a link to one event (its
// own URL, copy link, copy JSON), the keyboard (`/`, `j`/`k`, Enter, Escape, the skip link) and
// the auto-refresh that puts new events on top without moving what the user reads. Run by
// tests/tests/ui.rs against a seeded local server; on its own:
//   AUDIT_URL=… AUDIT_READ_TOKEN=… AUDIT_INGEST_TOKEN=… node tests/ui/investigate.mjs
import assert from 'node:assert/strict';
import {
  BASE,
  INGEST,
  afterRender,
  apiJson,
  log,
  noAxeViolations,
  openBrowser,
  renders,
  run,
  runMain,
  shownIds,
  signIn,
} from './lib.mjs';

const focusedId = (page) =>
  page.evaluate(() => {
    const node = document.activeElement;
    return node.closest('tr') ? node.closest('tr').dataset.id : node.id;
  });

async function record(events) {
  const response = await fetch(`${BASE}/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${INGEST}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  assert.ok(response.ok, `recorded: ${response.status} ${await response.text()}`);
}

async function main() {
  const { browser, context, page } = await openBrowser();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await signIn(page);
  const ids = await shownIds(page);

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
  assert.equal(new URL(page.url()).searchParams.get('event'), null);
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

  run.step = 'accessibility';
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await page.goto(`${BASE}/`);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    await noAxeViolations(page, `the journal at ${width} px`);
    await page.locator('#f-category summary').click();
    await noAxeViolations(page, `the filters (category list open) at ${width} px`);
    await page.keyboard.press('Escape');
    await page.locator('#rows button.message').first().click();
    await page.getByRole('dialog').waitFor();
    await noAxeViolations(page, `the detail view at ${width} px`);
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    await page.getByLabel('Username').fill('dana.admin');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    await page.getByRole('link', { name: /Download CSV/ }).waitFor({ timeout: 30000 });
    await noAxeViolations(page, `the export panel at ${width} px`);
    await page.getByRole('button', { name: 'Dismiss the export' }).click();
  }
  log('axe-core: no violations on the journal, the filters, the detail view and the export panel, at 1280 and 390 px');

  await browser.close();
}

runMain(main);
