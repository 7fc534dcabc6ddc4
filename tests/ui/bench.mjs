// Benchmark of the admin UI in headless Chromium (not a test): against a running server,
//  - first rows: navigation start → the first page of the journal rendered (the page's
//    `audit:first-rows` performance mark), token already in sessionStorage, fresh context each run;
//  - search: the Search field's input event → that search's rows rendered (debounce included).
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

console.log(`first rows (navigation → first page rendered): ${stats(firstRows)}`);
for (const [term, values] of search) {
  console.log(`search "${term}" (input → rows rendered, ${shown.get(term)} rows): ${stats(values)}`);
}
console.log(`search, all terms: ${stats([...search.values()].flat())}`);
