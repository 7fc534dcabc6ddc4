// Benchmark of the admin UI in headless Chromium (not a test): against a running server,
//  - first rows: navigation start → the first page of the journal in the page (its
//    `audit:first-rows` performance mark) and painted (`audit:first-rows-painted`, the frame
//    after), token already in sessionStorage: in a fresh browser context each run (cold), and
//    on a reload in the same context (warm: the browser's process and connection reused);
//  - the floor: the same page saved with its 50 rows as static HTML (no script, no API call),
//    its largest contentful paint in a fresh context, and a near-empty page's;
//  - search: the Search field's input event → that search's rows rendered (debounce included);
//  - counts: GET /counts (the count and histogram the page shows) for the page's common filters,
//    timed from node (request → JSON parsed).
// Usage (see BENCHMARKS.md for the 1,000,000-event setup):
//   AUDIT_URL=http://127.0.0.1:8080 AUDIT_READ_TOKEN=… node tests/ui/bench.mjs [runs]
import { chromium } from 'playwright-core';

const BASE = process.env.AUDIT_URL;
const READ = process.env.AUDIT_READ_TOKEN;
const RUNS = Number(process.argv[2] || 10);
const TERMS = (process.env.AUDIT_BENCH_TERMS || 'alice,timeout,payments,Analysis finished,Policy ignore,no-such-text').split(',');
if (!BASE || !READ) throw new Error('set AUDIT_URL and AUDIT_READ_TOKEN');

const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `median ${at(0.5).toFixed(1)} ms · p90 ${at(0.9).toFixed(1)} ms · min ${sorted[0].toFixed(1)} · max ${sorted.at(-1).toFixed(1)} (n=${sorted.length})`;
};

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const firstRows = { cold: [], coldPainted: [], warm: [], warmPainted: [] };
const marks = (page) =>
  page
    .waitForFunction(() => performance.getEntriesByName('audit:first-rows-painted').length > 0)
    .then(() => page.evaluate(() => ['audit:first-rows', 'audit:first-rows-painted'].map((m) => performance.getEntriesByName(m)[0].startTime)));
let staticPage = null;
const search = new Map(TERMS.map((t) => [t, []]));
const shown = new Map();
for (let run = 0; run < RUNS; run++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((token) => sessionStorage.setItem('audit-log.read-token', token), READ);
  const page = await context.newPage();
  page.on('pageerror', (e) => {
    throw e;
  });
  await page.goto(`${BASE}/`);
  const [cold, coldPainted] = await marks(page);
  firstRows.cold.push(cold);
  firstRows.coldPainted.push(coldPainted);
  if (!staticPage) staticPage = (await page.content()).replace(/<script[^>]*><\/script>/g, '');
  await page.reload();
  const [warm, warmPainted] = await marks(page);
  firstRows.warm.push(warm);
  firstRows.warmPainted.push(warmPainted);
  for (const term of TERMS) {
    const result = await page.evaluate(
      (q) =>
        new Promise((resolve) => {
          const input = document.getElementById('f-q');
          const start = performance.now();
          const done = (e) => {
            if (e.detail.query.q !== q) return;
            removeEventListener('audit:rendered', done);
            resolve({ ms: performance.now() - start, rows: e.detail.shown });
          };
          addEventListener('audit:rendered', done);
          input.value = q;
          input.dispatchEvent(new Event('input', { bubbles: true }));
        }),
      term,
    );
    search.get(term).push(result.ms);
    shown.set(term, result.rows);
    // Back to the unfiltered journal before the next term.
    await page.evaluate(
      () =>
        new Promise((resolve) => {
          addEventListener('audit:rendered', resolve, { once: true });
          const input = document.getElementById('f-q');
          input.value = '';
          input.dispatchEvent(new Event('input', { bubbles: true }));
        }),
    );
  }
  await context.close();
}
// The floor: what this browser takes to paint the page with its rows when nothing is to be run
// or fetched (the same stylesheet), and a near-empty page. Served through a route at the same
// origin, in a fresh context each run.
const css = await (await fetch(`${BASE}/app.css`)).text();
const floors = { static: [], empty: [] };
const pages = { static: staticPage, empty: '<!doctype html><html><head><link rel="stylesheet" href="app.css"></head><body><p>Audit log</p></body></html>' };
for (let run = 0; run < RUNS; run++) {
  for (const [name, body] of Object.entries(pages)) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.route(`${BASE}/floor`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body }));
    await context.route(`${BASE}/app.css`, (route) => route.fulfill({ status: 200, contentType: 'text/css', body: css }));
    const page = await context.newPage();
    await page.goto(`${BASE}/floor`);
    floors[name].push(
      await page.evaluate(
        () =>
          new Promise((resolve) =>
            new PerformanceObserver((list) => resolve(list.getEntries().at(-1).startTime)).observe({ type: 'largest-contentful-paint', buffered: true }),
          ),
      ),
    );
    await context.close();
  }
}
await browser.close();

// The count and histogram of the filters the page asks for most: all time (days), the last 7 days
// and the last 24 hours (hours), a category, failures only, a username, a search.
const day = 86400e3;
const since = (ms) => new Date(Date.now() - ms).toISOString();
const COUNTS = {
  'all time, by day': { bucket: 'day' },
  'last 7 days, by hour': { from: since(7 * day), bucket: 'hour' },
  'last 24 hours, by hour': { from: since(day), bucket: 'hour' },
  'last 30 days, category auth, by day': { from: since(30 * day), category: 'auth', bucket: 'day' },
  'last 7 days, failures only, by hour': { from: since(7 * day), outcome: 'failure', bucket: 'hour' },
  'last 7 days, username dana.admin, by hour': { from: since(7 * day), actor: 'dana.admin', bucket: 'hour' },
  'last 7 days, search "timeout", by hour': { from: since(7 * day), q: 'timeout', bucket: 'hour' },
};
const countTimes = new Map();
for (const [name, params] of Object.entries(COUNTS)) {
  const times = [];
  let body = null;
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    const response = await fetch(`${BASE}/counts?${new URLSearchParams(params)}`, { headers: { Authorization: `Bearer ${READ}` } });
    body = await response.json();
    if (!response.ok) throw new Error(`${name}: ${JSON.stringify(body)}`);
    times.push(performance.now() - start);
  }
  countTimes.set(name, { times, body });
}

console.log(`first rows, cold (navigation → first page in the page): ${stats(firstRows.cold)}`);
console.log(`first rows, cold (navigation → first page painted): ${stats(firstRows.coldPainted)}`);
console.log(`first rows, warm reload (in the page): ${stats(firstRows.warm)}`);
console.log(`first rows, warm reload (painted): ${stats(firstRows.warmPainted)}`);
console.log(`floor: the page with its 50 rows as static HTML, largest contentful paint: ${stats(floors.static)}`);
console.log(`floor: a near-empty page, largest contentful paint: ${stats(floors.empty)}`);
for (const [name, { times, body }] of countTimes) {
  console.log(`counts ${name} (${body.exact ? '' : 'more than '}${body.total} events, ${body.buckets.length} buckets): ${stats(times)}`);
}
console.log(`counts, all filters: ${stats([...countTimes.values()].flatMap((c) => c.times))}`);
for (const [term, values] of search) {
  console.log(`search "${term}" (input → rows rendered, ${shown.get(term)} rows): ${stats(values)}`);
}
console.log(`search, all terms: ${stats([...search.values()].flat())}`);
