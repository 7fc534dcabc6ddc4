// What the browser tests share: the environment they run in, the API as they ask it for the
// expected answers, the page's rendering signal, and the console watch (any console error fails
// a run, except the failed loads a step provokes on purpose, `run.allowedConsole`).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

export function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

export const BASE = need('AUDIT_URL');
export const READ = need('AUDIT_READ_TOKEN');
export const INGEST = need('AUDIT_INGEST_TOKEN');
export const SHOTS = process.env.AUDIT_SCREENSHOTS || 'target/ui-screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** The step running (for failure messages), the console errors seen and the ones allowed now. */
export const run = { step: 'start', consoleErrors: [], allowedConsole: null };
export const log = (text) => console.log(`ui: ${text}`);

// ---- The API, for the expected answers ----------------------------------------------------

export async function apiJson(pathAndQuery) {
  const response = await fetch(BASE + pathAndQuery, { headers: { Authorization: `Bearer ${READ}` } });
  assert.equal(response.status, 200, `GET ${pathAndQuery}`);
  return response.json();
}

// Every event id the API lists for `params`, in order, through all pages.
export async function apiIds(params) {
  const ids = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ ...params, limit: '500' });
    if (cursor) query.set('cursor', cursor);
    const page = await apiJson(`/events?${query}`);
    ids.push(...page.events.map((e) => e.id));
    cursor = page.next_cursor;
  } while (cursor);
  return ids;
}

// Records `events` through the API with the ingest token (a batch).
export async function record(events) {
  const response = await fetch(`${BASE}/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${INGEST}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  assert.ok(response.ok, `recorded: ${response.status} ${await response.text()}`);
}

// ---- The page -------------------------------------------------------------------------------

/** Headless Chromium at 1280 px, in a time zone far from UTC (local days and UTC days differ). */
export async function openBrowser() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    timezoneId: 'America/Los_Angeles',
    locale: 'en-US',
    acceptDownloads: true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  watchConsole(page);
  return { browser, context, page };
}

function watchConsole(page) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (run.allowedConsole && run.allowedConsole.test(text)) return;
    run.consoleErrors.push(`[${run.step}] ${text}`);
  });
  page.on('pageerror', (error) => run.consoleErrors.push(`[${run.step}] uncaught: ${error.message}`));
}

// The filters of the page's last first-page request to GET /events (no cursor).
export function watchListings(page) {
  const seen = { last: null };
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname !== '/events' || url.searchParams.has('cursor')) return;
    const params = Object.fromEntries(url.searchParams);
    delete params.limit;
    seen.last = params;
  });
  return seen;
}

export const renders = (page) => page.evaluate(() => Number(document.documentElement.dataset.renders || 0));

// Runs `action` and waits until the page has rendered a listing after it.
export async function afterRender(page, action) {
  const before = await renders(page);
  await action();
  await page.waitForFunction(
    (n) => Number(document.documentElement.dataset.renders || 0) > n && document.documentElement.dataset.state === 'ready',
    before,
  );
}

export const shownIds = (page) => page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));

// Signs in with the read token on a fresh page and waits for the first listing.
export async function signIn(page) {
  await page.goto(`${BASE}/`);
  await page.getByLabel('Read token').waitFor();
  await afterRender(page, async () => {
    await page.getByLabel('Read token').fill(READ);
    await page.getByRole('button', { name: 'Open journal' }).click();
  });
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

// axe-core over the page as it is now (`what` names the state): no violation of the WCAG 2.1 A
// and AA rules nor of axe's best practices. Evaluated through the browser's debugging protocol,
// which the page's Content-Security-Policy does not govern.
export async function noAxeViolations(page, what) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(await readFile(AXE, 'utf8'));
  const result = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    }),
  );
  const violations = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')}`,
  );
  assert.deepEqual(violations, [], `axe-core on ${what}`);
  return result.passes.length;
}

// Runs a test script's `main`, and fails the process with the step and console errors.
export function runMain(main) {
  main()
    .then(() => {
      assert.deepEqual(run.consoleErrors, [], 'no console errors');
      log('passed');
    })
    .catch((error) => {
      console.error(`ui: FAILED at step "${run.step}": ${error.stack || error}`);
      if (run.consoleErrors.length) console.error(`ui: console errors:\n${run.consoleErrors.join('\n')}`);
      process.exit(1);
    });
}
