// Benchmark of the admin UI in headless Chromium (not a test): against a running server,
//  - first rows: navigation start → the first page of the journal rendered (the page's
//    `audit:first-rows` performance mark), token already in sessionStorage, fresh context each run;
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
const firstRows = [];
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
  await page.waitForFunction(() => performance.getEntriesByName('audit:first-rows').length > 0);
  firstRows.push(await page.evaluate(() => performance.getEntriesByName('audit:first-rows')[0].startTime));
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

console.log(`first rows (navigation → first page rendered): ${stats(firstRows)}`);
for (const [name, { times, body }] of countTimes) {
  console.log(`counts ${name} (${body.exact ? '' : 'more than '}${body.total} events, ${body.buckets.length} buckets): ${stats(times)}`);
}
console.log(`counts, all filters: ${stats([...countTimes.values()].flatMap((c) => c.times))}`);
for (const [term, values] of search) {
  console.log(`search "${term}" (input → rows rendered, ${shown.get(term)} rows): ${stats(values)}`);
}
console.log(`search, all terms: ${stats([...search.values()].flat())}`);
