// People sign in with the organisation's OpenID provider (issue 17): a real one (`provider.mjs`,
// oidc-provider), its login page filled in by headless Chromium. Ada lands on the journal, sees
// her name, searches and exports, and the journal records both under her name and `sub`; her
// access token is renewed before it expires; with no way to renew, the page asks her to sign in
// again; she signs out (at the provider too). Eve, signed in but not a reader, is told why she
// cannot read. The read-token prompt still opens the journal.
import assert from 'node:assert/strict';
import { BASE, READ, afterRender, apiJson, need, noAxeViolations, openBrowser, run, runMain, shownIds } from './lib.mjs';

const ISSUER = need('AUDIT_OIDC_ISSUER');
const SESSION_KEY = 'audit-log.session';

const session = (page) => page.evaluate((key) => JSON.parse(sessionStorage.getItem(key) || 'null'), SESSION_KEY);

// The provider's development login page: any password is taken for a known login.
async function logInAtProvider(page, login) {
  await page.waitForURL((url) => url.origin === ISSUER);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
}

async function main() {
  const { browser, context, page } = await openBrowser();
  // The provider's development login page asks for a web font: none here (no internet).
  await context.route(/^https:\/\/fonts\.googleapis\.com\//, (route) =>
    route.fulfill({ status: 200, contentType: 'text/css', body: '' }),
  );

  run.step = 'the sign-in screen offers the provider and the token';
  await page.goto(`${BASE}/?q=signing+key`);
  const signInButton = page.getByRole('button', { name: "Sign in with your organisation's account" });
  await signInButton.waitFor();
  assert.ok(await page.getByLabel('Read token').isVisible(), 'the token prompt stays');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'signin-oidc');
  await noAxeViolations(page, 'the sign-in screen with the provider');

  run.step = 'Ada signs in at the provider and lands on the journal where she was';
  await afterRender(page, async () => {
    await signInButton.click();
    await logInAtProvider(page, 'ada');
  });
  const url = new URL(page.url());
  assert.equal(url.origin, BASE);
  assert.equal(url.searchParams.get('q'), 'signing key', 'the filters she came with');
  assert.ok(!url.searchParams.has('code') && !url.searchParams.has('state'), `no code left in ${url}`);
  assert.equal(await page.locator('#who').textContent(), 'Signed in as ada@example.test');
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), true);
  await noAxeViolations(page, 'the journal, signed in as a person');
  const first = await session(page);
  assert.ok(first && first.accessToken.split('.').length === 3 && first.refreshToken, 'a JWT and a refresh token');
  // Her search is recorded as she makes it, and its record ("…searched with filters: q=signing
  // key") matches it: the rows are the API's, but for such records.
  const listed = (await apiJson(`/events?q=${encodeURIComponent('signing key')}&limit=60`)).events;
  const records = new Set(listed.filter((e) => e.type === 'audit.journal_searched').map((e) => e.id));
  const want = listed.map((e) => e.id).filter((id) => !records.has(id));
  const shown = (await shownIds(page)).filter((id) => !records.has(id));
  assert.deepEqual(shown, want.slice(0, shown.length), 'the rows are the API’s');
  assert.ok(shown.length >= 49, `a page of rows: ${shown.length}`);

  run.step = 'she exports, and the journal records her search and export as hers';
  await page.getByRole('button', { name: 'Export CSV' }).click();
  const link = page.getByRole('link', { name: /Download CSV/ });
  await link.waitFor({ timeout: 30000 });
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  assert.match(download.suggestedFilename(), /^audit-log-.*\.csv$/);
  const journal = (await apiJson('/events?category=audit&limit=50')).events;
  const exported = journal.find((e) => e.type === 'audit.export_requested');
  assert.ok(exported, 'an export record');
  assert.equal(exported.actor, 'ada@example.test');
  assert.equal(exported.params.subject, 'ada');
  const searched = journal.filter((e) => e.type === 'audit.journal_searched');
  assert.ok(searched.length >= 1, 'her search is recorded');
  assert.ok(searched.every((e) => e.actor === 'ada@example.test' && e.params.subject === 'ada'));
  assert.ok(searched.some((e) => e.params.filters.includes('q=signing key')), JSON.stringify(searched));

  run.step = 'her access token is renewed before it expires';
  await page.evaluate((key) => {
    const s = JSON.parse(sessionStorage.getItem(key));
    s.expiresAt = Date.now() + 61000; // renewal is due in a second
    sessionStorage.setItem(key, JSON.stringify(s));
  }, SESSION_KEY);
  await page.reload();
  await page.waitForFunction(
    ([key, before]) => JSON.parse(sessionStorage.getItem(key) || '{}').accessToken !== before,
    [SESSION_KEY, first.accessToken],
  );
  const renewed = await session(page);
  assert.ok(renewed.expiresAt > Date.now() + 100000, 'a fresh token');
  await afterRender(page, () => page.getByRole('button', { name: 'Refresh' }).click());
  assert.equal(await page.locator('#who').textContent(), 'Signed in as ada@example.test');

  run.step = 'without a way to renew, an expired sign-in asks to sign in again, which is quick';
  await page.evaluate((key) => {
    const s = JSON.parse(sessionStorage.getItem(key));
    s.refreshToken = null;
    s.expiresAt = Date.now() - 1000;
    sessionStorage.setItem(key, JSON.stringify(s));
  }, SESSION_KEY);
  await page.reload();
  await page.getByText('Your sign-in has ended. Sign in again to go on.').waitFor();
  assert.equal(await session(page), null);
  // Still signed in at the provider: back on the journal without its login page.
  await afterRender(page, () => signInButton.click());
  assert.equal(await page.locator('#who').textContent(), 'Signed in as ada@example.test');

  run.step = 'she signs out, at the provider too';
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((u) => u.origin === ISSUER);
  await page.locator('button[type="submit"], button[autofocus]').first().click(); // "Yes, sign me out"
  await signInButton.waitFor();
  assert.equal(new URL(page.url()).origin, BASE);
  assert.equal(await session(page), null);

  run.step = 'Eve is signed in but not a reader: told so';
  run.allowedConsole = /status of 403/;
  await signInButton.click();
  await logInAtProvider(page, 'eve');
  await page.getByText(/You are signed in, but not allowed to read the audit log \(403\)/).waitFor();
  run.allowedConsole = null;

  run.step = 'the read token still opens the journal';
  await afterRender(page, async () => {
    await page.getByLabel('Read token').fill(READ);
    await page.getByRole('button', { name: 'Open journal' }).click();
  });
  assert.equal(await page.locator('#who').isVisible(), false);
  assert.equal(await page.getByRole('button', { name: 'Forget token' }).isVisible(), true);

  await browser.close();
}

runMain(main);
