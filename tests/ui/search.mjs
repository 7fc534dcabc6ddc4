// A rare search on the DynamoDB store (issue 16, feature 9): its pages come back short — each
// spends a bounded read on days without the word — and the page keeps going by itself, saying how
// far it has searched, instead of showing an empty page and a "Load more" to click. On a slow
// network it stops after a while and offers "Keep searching", which goes on from there.
// Expects a server whose only matches of AUDIT_UI_RARE are on its oldest day.
import assert from 'node:assert/strict';
import { BASE, READ, afterRender, apiIds, log, need, openBrowser, run, runMain, shownIds } from './lib.mjs';

const RARE = need('AUDIT_UI_RARE');

async function main() {
  const { browser, context, page } = await openBrowser();
  await context.addInitScript((token) => sessionStorage.setItem('audit-log.read-token', token), READ);
  const want = await apiIds({ q: RARE });
  assert.ok(want.length > 0 && want.length < 50, `a rare word: ${want.length} matches`);

  // Everything the summary says while the page works, and every page it asks for.
  const summaries = async () => page.evaluate(() => window.seenSummaries);
  await context.addInitScript(() => {
    window.seenSummaries = [];
    addEventListener('DOMContentLoaded', () => {
      const summary = document.getElementById('summary');
      new MutationObserver(() => window.seenSummaries.push(summary.textContent)).observe(summary, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
  });
  // This deployment keeps no sealed archive: GET /integrity answers 404 (the header shows no
  // seal), which the browser logs. Any other failed request fails the test.
  run.allowedConsole = /status of 404/;
  const failed = [];
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/integrity') failed.push(`${r.status()} ${r.url()}`);
  });
  let pages = 0;
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname === '/events' && url.searchParams.get('q') === RARE) pages += 1;
  });

  run.step = 'a rare search keeps going by itself';
  await afterRender(page, () => page.goto(`${BASE}/?q=${encodeURIComponent(RARE)}`));
  assert.deepEqual(await shownIds(page), want, 'every match shown, no click needed');
  assert.ok(pages > 2, `the page asked for ${pages} pages`);
  const seen = await summaries();
  const searching = seen.filter((s) => /^Searching… 0 events found so far; searched through /.test(s));
  assert.ok(searching.length >= 2, `it said how far it had searched: ${JSON.stringify(seen)}`);
  assert.match(await page.locator('#summary').textContent(), /^All \d+ matching events? shown, newest first\.$/);
  assert.equal(await page.locator('#more').isVisible(), false);

  run.step = 'on a slow network it stops and offers to keep searching';
  // Each answer of the search held back 2.6 s: after 10 s the page stops and asks.
  await page.route(
    (url) => url.pathname === '/events' && url.searchParams.get('q') === RARE,
    async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 2600));
      await route.continue();
    },
  );
  page.setDefaultTimeout(30000);
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready' && document.documentElement.dataset.renders === '1');
  const summary = await page.locator('#summary').textContent();
  assert.match(summary, /^0 events shown, newest first; searched through .+\. Keep searching for more\.$/, summary);
  const more = page.getByRole('button', { name: 'Keep searching' });
  assert.ok(await more.isVisible(), 'Keep searching is offered');
  assert.deepEqual(await shownIds(page), []);
  await page.unrouteAll();
  await afterRender(page, () => more.click());
  assert.deepEqual(await shownIds(page), want, 'found from where it stopped');
  const focused = await page.evaluate(() => document.activeElement.closest('tr')?.dataset.id);
  assert.equal(focused, want[0], 'the first row it found has the focus');

  assert.deepEqual(failed, [], 'no request failed');
  await browser.close();
  log(`a search of "${RARE}" shown after ${pages} pages`);
}

runMain(main);
