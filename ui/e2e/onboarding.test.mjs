// Onboarding a website in a real browser against the real server: a tiny
// fixture site served from this test (three pages and a 404 on 127.0.0.1),
// crawled from the form with the progress followed live over /api/events,
// the counts and pages table checked, then a re-crawl's change report.
// Skips itself when the server has no crawl routes yet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, api, launchBrowser, nameBusiness, shot, TOKEN } from './harness.mjs';

let server;
let browser;
let site;
let siteUrl;
/** Set when `POST /api/onboard` is missing: every test skips. */
let noCrawl = null;
/** Text of the services page; changed before the re-crawl. */
let servicesText = 'A routine cleaning costs 95 dollars and takes about 45 minutes.';
/** How long the fixture site takes to answer. */
let delayMs = 250;

function html(title, body, links) {
  const nav = links.map((l) => `<a href="${l}">${l}</a>`).join(' ');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><main><h1>${title}</h1>${body}<nav>${nav}</nav></main></body></html>`;
}

function pages() {
  return {
    '/': html(
      'Harbor Dental',
      '<p>Harbor Dental is a family dental practice on Pier Street. We have cared for smiles since 1998 and welcome new patients of every age.</p><p>Call us to book a cleaning or a checkup.</p>',
      ['/about', '/services', '/missing'],
    ),
    '/about': html(
      'About us',
      '<p>Our team of three dentists and four hygienists speaks English, Spanish and Portuguese. The practice is wheelchair accessible and has free parking behind the building.</p>',
      ['/', '/services'],
    ),
    '/services': html(
      'Services and prices',
      `<h2>Cleaning</h2><p>${servicesText}</p><h2>Whitening</h2><p>In-office whitening costs 350 dollars per session and takes about an hour.</p>`,
      ['/'],
    ),
  };
}

before(async () => {
  // Each response waits a little, so the crawl runs long enough to be seen running.
  site = http.createServer((req, res) => {
    setTimeout(() => {
      const body = pages()[req.url ?? '/'];
      if (!body) {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>Not found</title><h1>Not found</h1>');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(body);
    }, delayMs);
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  siteUrl = `http://127.0.0.1:${site.address().port}/`;

  server = await startServer();
  // A new data dir: name the business so the first-run screen does not show.
  await nameBusiness(server);
  // An invalid body: 422 when the route exists, 404 on a server without the crawler.
  const probe = await api(server, 'POST', '/api/onboard', { url: 'ftp://example.com' });
  if (probe.status === 404 || probe.status === 405) {
    noCrawl = `this switchboard build has no POST /api/onboard (HTTP ${probe.status}); rebuild it with the crawl API`;
    return;
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((ok) => (site ? site.close(ok) : ok()));
});

async function openApp(hash = '#/onboarding', viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${server.base}/#token=${TOKEN}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  if (hash) await page.evaluate((h) => (location.hash = h), hash);
  return { page, errors };
}

test('an address the crawler cannot use is refused where it was typed, and nothing is lost', async (t) => {
  if (noCrawl) return t.skip(noCrawl);
  const { page, errors } = await openApp();
  // Nothing onboarded yet: the empty state says what to do.
  const empty = page.getByTestId('jobs-empty');
  await empty.waitFor();
  assert.match(await empty.innerText(), /No site onboarded yet — enter your website's address above/);
  await shot(page, 'onboarding-empty');

  // Checked before sending.
  await page.getByLabel('Website address').fill('ftp://files.example.com');
  await page.getByLabel('Max pages').fill('0');
  await page.getByTestId('onboard-submit').click();
  assert.match(await page.getByTestId('onboard-error-url').innerText(), /http:\/\/ or https:\/\//);
  assert.match(await page.getByTestId('onboard-error-max-pages').innerText(), /1 to 10000/);
  assert.equal(await page.getByLabel('Website address').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Website address').inputValue(), 'ftp://files.example.com');
  await shot(page, 'onboarding-invalid');

  // Refused by the server (a pattern that is not a glob): shown next to the field it names.
  await page.getByLabel('Website address').fill('https://example.com');
  await page.getByLabel('Max pages').fill('5');
  await page.getByText('Only some paths').click();
  await page.getByLabel('Include').fill('/docs/[');
  await page.getByTestId('onboard-submit').click();
  await page.getByTestId('onboard-error-include').waitFor();
  assert.match(await page.getByTestId('onboard-error-include').innerText(), /glob/);
  assert.equal(await page.getByLabel('Include').inputValue(), '/docs/[', 'nothing typed is lost');
  assert.equal(await page.getByLabel('Website address').inputValue(), 'https://example.com');
  assert.equal(await page.getByTestId('onboard-error-url').count(), 0);
  assert.equal((await api(server, 'GET', '/api/jobs')).body.length, 0, 'no job was started');
  // Leave the form as it was for the next test.
  await page.getByLabel('Include').fill('');
  await page.getByLabel('Website address').fill('');
  await page.getByLabel('Max pages').fill('50');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a site on this machine is onboarded from the form, its progress followed live, then re-crawled', async (t) => {
  if (noCrawl) return t.skip(noCrawl);
  // The fixture site is on 127.0.0.1: allow private addresses first.
  const current = (await api(server, 'GET', '/api/settings')).body;
  const put = await api(server, 'PUT', '/api/settings', { ...current, crawl_allow_private: true });
  assert.equal(put.status, 200);
  assert.equal(put.body.crawl_allow_private, true);

  const { page, errors } = await openApp('#/settings');
  const allow = page.getByTestId('crawl-allow-private');
  await allow.waitFor();
  assert.equal(await allow.isChecked(), true, 'the settings screen shows the switch as saved');
  await shot(page, 'settings-crawler');

  // g o goes to onboarding.
  await page.locator('body').click({ position: { x: 5, y: 700 } });
  await page.keyboard.press('g');
  await page.keyboard.press('o');
  await page.getByTestId('onboard-form').waitFor();

  await page.getByLabel('Website address').fill(siteUrl);
  await page.getByLabel('Max depth').fill('2');
  await page.getByTestId('onboard-submit').click();

  const detail = page.getByTestId('job-detail');
  await detail.waitFor();
  const id = await detail.getAttribute('data-id');
  assert.ok(id, 'the new job is open');
  assert.equal(await page.getByLabel('Website address').inputValue(), '', 'the form is ready for another site');
  const row = page.locator(`[data-testid="job-row"][data-id="${id}"]`);
  await row.waitFor();

  // Live: the job moves to running and then done without a reload (events only, no polling).
  await page.locator(`[data-testid="job-detail"][data-state="running"]`).waitFor({ timeout: 20_000 });
  await shot(page, 'onboarding-running');
  await page.locator(`[data-testid="job-detail"][data-state="done"]`).waitFor({ timeout: 60_000 });
  assert.equal(await detail.getByTestId('job-state').innerText(), 'Done');
  assert.equal(await row.getAttribute('data-state'), 'done');
  assert.equal(await detail.getByTestId('job-progress').getAttribute('data-fraction'), '100');

  // Counts: three pages indexed, the 404 skipped with its reason in words.
  assert.equal(await detail.getByTestId('count-discovered').innerText(), '4');
  assert.equal(await detail.getByTestId('count-indexed').innerText(), '3');
  assert.equal(await detail.getByTestId('count-errors').innerText(), '0');
  const skip = detail.getByTestId('skip-reason');
  assert.equal(await skip.count(), 1);
  assert.match(await skip.innerText(), /1\s+not found \(HTTP 404\)/);

  // The pages table arrives when the job finishes.
  const rows = detail.getByTestId('page-row');
  await rows.nth(3).waitFor();
  assert.equal(await rows.count(), 4);
  assert.equal(await detail.locator('[data-testid="page-row"][data-status="indexed"]').count(), 3);
  const missing = detail.locator('[data-testid="page-row"][data-status="skipped"]');
  assert.equal(await missing.getAttribute('data-url'), `${siteUrl}missing`);
  assert.equal(await missing.getByTestId('page-reason').innerText(), 'not found (HTTP 404)');
  const services = detail.locator(`[data-testid="page-row"][data-url="${siteUrl}services"]`);
  assert.match(await services.innerText(), /Services and prices/);
  assert.ok(Number(await services.getByTestId('page-chunks').innerText()) >= 1, 'passages were indexed');
  const link = services.getByRole('link');
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.match(await link.getAttribute('rel'), /noopener/);
  await shot(page, 'onboarding-done');

  // Filter by status.
  await detail.getByTestId('pages-filter').selectOption('skipped');
  assert.equal(await rows.count(), 1);
  await detail.getByTestId('pages-filter').selectOption('all');
  assert.equal(await rows.count(), 4);

  // The API agrees with the screen.
  const job = (await api(server, 'GET', `/api/job/${id}`)).body;
  assert.equal(job.state, 'done');
  assert.equal(job.counts.indexed, 3);

  // Change a page, then re-crawl: a new job, and its change report.
  servicesText = 'A routine cleaning now costs 105 dollars and takes about 45 minutes.';
  await detail.getByTestId('job-recrawl').click();
  const re = page.locator(`[data-testid="job-detail"]:not([data-id="${id}"])`);
  await re.waitFor();
  const reId = await re.getAttribute('data-id');
  await page.locator(`[data-testid="job-detail"][data-id="${reId}"][data-state="done"]`).waitFor({ timeout: 60_000 });
  const changes = re.getByTestId('changes');
  await changes.waitFor();
  assert.equal(await changes.getByTestId('change-changed').getAttribute('data-count'), '1');
  assert.equal(await changes.getByTestId('change-unchanged').getAttribute('data-count'), '2');
  assert.equal(await changes.getByTestId('change-new').getAttribute('data-count'), '0');
  assert.equal(await changes.getByTestId('change-removed').getAttribute('data-count'), '0');
  await changes.getByTestId('change-changed').locator('summary').click();
  assert.match(await changes.getByTestId('change-changed').innerText(), /\/services/);
  assert.equal(await re.getByTestId('count-unchanged').innerText(), '2');
  await re.locator('[data-testid="page-row"]').nth(3).waitFor();
  await shot(page, 'onboarding-recrawl');

  // Both jobs are listed, newest first.
  const ids = await page.getByTestId('job-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
  assert.deepEqual(ids, [reId, id]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a narrow window lists the crawls and opens one full width', async (t) => {
  if (noCrawl) return t.skip(noCrawl);
  const { page, errors } = await openApp('#/onboarding', { width: 420, height: 800 });
  const rows = page.getByTestId('job-row');
  await rows.first().waitFor();
  await shot(page, 'onboarding-narrow');
  await rows.first().click();
  const detail = page.getByTestId('job-detail');
  await detail.locator('[data-testid="page-row"]').first().waitFor();
  assert.equal(await page.getByTestId('onboard-form').isVisible(), false, 'the list gives way to the job');
  // The page fits: nothing scrolls sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px too wide`);
  await shot(page, 'onboarding-narrow-detail');
  await page.getByRole('button', { name: 'Back to onboarding' }).click();
  await page.getByTestId('onboard-form').waitFor();
  // The first crawl's pages now live under the re-crawl: it says so, with a link.
  await rows.last().click();
  const note = page.getByTestId('pages-superseded');
  await note.waitFor();
  await note.getByRole('link').click();
  await page.locator('[data-testid="job-detail"] [data-testid="page-row"]').first().waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('a running crawl is cancelled, then resumed to the end', async (t) => {
  if (noCrawl) return t.skip(noCrawl);
  delayMs = 1500;
  const { page, errors } = await openApp();
  await page.getByLabel('Website address').fill(siteUrl);
  await page.getByTestId('onboard-submit').click();
  const detail = page.getByTestId('job-detail');
  await detail.waitFor();
  const id = await detail.getAttribute('data-id');
  await detail.getByTestId('job-cancel').click();
  await page.locator(`[data-testid="job-detail"][data-id="${id}"][data-state="cancelled"]`).waitFor({ timeout: 30_000 });
  assert.equal(await detail.getByTestId('job-state').innerText(), 'Cancelled');
  assert.equal(await detail.getByTestId('job-cancel').count(), 0);
  await shot(page, 'onboarding-cancelled');
  delayMs = 50;
  await detail.getByTestId('job-resume').click();
  await page.locator(`[data-testid="job-detail"][data-id="${id}"][data-state="done"]`).waitFor({ timeout: 60_000 });
  assert.equal(await detail.getByTestId('count-indexed').innerText() !== '', true);
  assert.equal((await api(server, 'GET', `/api/job/${id}`)).body.state, 'done');
  assert.deepEqual(errors, []);
  await page.close();
});
