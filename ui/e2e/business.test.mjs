// The business profile in a real browser against the real server: the
// first-run screen on a new data dir (no --demo), skipped in one browser and
// filled in another; Settings → Business edited (hours, phone) and a phone
// the server refuses; then, on a second new server, a website given on the
// first-run screen starts onboarding and opens its progress.
// Skips itself when the server has no /api/settings/business yet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, api, launchBrowser, shot, TOKEN } from './harness.mjs';

let server;
let browser;
/** Set when `GET /api/settings/business` is missing: every test skips. */
let noProfile = null;

before(async () => {
  server = await startServer();
  const probe = await api(server, 'GET', '/api/settings/business');
  if (probe.status !== 200) {
    noProfile = `this switchboard build has no GET /api/settings/business (HTTP ${probe.status}); rebuild it with the profile API`;
    return;
  }
  assert.equal(probe.body.name, null, 'a new data dir has no business name');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page in a new browser context (its own localStorage), signed in with the token. */
async function openFresh(srv = server, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${srv.base}/#token=${TOKEN}`);
  return { context, page, errors };
}

async function mainAppShows(page) {
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  assert.equal(await page.getByTestId('welcome-screen').count(), 0);
}

test('"Skip for now" hides the first-run screen in this browser and opens the queue', async (t) => {
  if (noProfile) return t.skip(noProfile);
  const { context, page, errors } = await openFresh();
  const welcome = page.getByTestId('welcome-screen');
  await welcome.waitFor();
  assert.match(await welcome.innerText(), /What is your business called\?/);
  assert.match(await welcome.innerText(), /What is its website\?/);
  // The name field has the focus: typing starts at once.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'welcome-name');
  await shot(page, 'first-run');

  await page.getByTestId('welcome-skip').click();
  await mainAppShows(page);
  assert.equal(await page.evaluate(() => location.hash), '#/queue/pending');

  // Still hidden after a reload in this browser; the business is still unnamed.
  await page.reload();
  await mainAppShows(page);
  assert.equal((await api(server, 'GET', '/api/settings/business')).body.name, null);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a name typed on the first-run screen is saved and the main app shows', async (t) => {
  if (noProfile) return t.skip(noProfile);
  // Another browser: the skip above does not apply here.
  const { context, page, errors } = await openFresh();
  await page.getByTestId('welcome-screen').waitFor();

  // No name: said in place, nothing sent.
  await page.getByTestId('welcome-submit').click();
  assert.match(await page.getByTestId('welcome-error-name').innerText(), /name/);
  assert.equal(await page.getByLabel('What is your business called?').getAttribute('aria-invalid'), 'true');
  await page.getByLabel('What is its website?').fill('ftp://files.example');
  await page.getByTestId('welcome-submit').click();
  assert.match(await page.getByTestId('welcome-error-website').innerText(), /http:\/\/ or https:\/\//);
  await shot(page, 'first-run-invalid');
  assert.equal((await api(server, 'GET', '/api/settings/business')).body.name, null);

  // Keyboard only: type the name, clear the website, Enter.
  await page.getByLabel('What is its website?').fill('');
  await page.getByLabel('What is your business called?').focus();
  await page.keyboard.type('Harbor Dental');
  await page.keyboard.press('Enter');
  await mainAppShows(page);

  const saved = await api(server, 'GET', '/api/settings/business');
  assert.equal(saved.status, 200);
  assert.equal(saved.body.name, 'Harbor Dental');
  assert.equal(saved.body.website, null);
  assert.equal((await api(server, 'GET', '/api/jobs')).body.length, 0, 'no website, no onboarding');

  // Named now: a new browser goes straight to the app.
  const other = await openFresh();
  await mainAppShows(other.page);
  await other.context.close();
  assert.deepEqual(errors, []);
  await context.close();
});

test('Settings → Business: hours and phone are saved; a phone the server refuses is shown where it was typed', async (t) => {
  if (noProfile) return t.skip(noProfile);
  const { context, page, errors } = await openFresh();
  await mainAppShows(page);
  await page.evaluate(() => (location.hash = '#/settings'));
  const card = page.getByTestId('business-settings');
  await card.waitFor();
  assert.equal(await card.getByLabel('Business name').inputValue(), 'Harbor Dental');
  // Seven weekdays, none set yet.
  assert.equal(await card.getByTestId('hours-row').count(), 7);
  assert.equal(await card.getByLabel('Wednesday opens').inputValue(), '');
  assert.equal(await card.getByTestId('business-save').isDisabled(), true, 'nothing to save yet');

  await card.getByLabel('Phone', { exact: true }).fill('+1 (555) 010-2000');
  await card.getByLabel('Monday opens').fill('09:00');
  await card.getByLabel('Monday closes').fill('17:30');
  await card.getByRole('button', { name: 'Copy Monday to Tuesday–Friday' }).click();
  await card.getByLabel('Saturday opens').fill('10:00');
  await card.getByLabel('Saturday closes').fill('14:00');
  await card.getByLabel('Sunday closed').check();
  await card.getByLabel('Languages').fill('en, ES');
  assert.equal(await card.getByLabel('Sunday opens').isDisabled(), true);
  await shot(page, 'settings-business');

  // A day with only an opening time: said on its row before sending.
  await card.getByLabel('Friday closes').fill('');
  await card.getByTestId('business-save').click();
  assert.match(await card.getByTestId('business-error-hours-Friday').innerText(), /Friday needs both/);
  await card.getByLabel('Friday closes').fill('17:30');

  // Ctrl+Enter saves from any field.
  await card.getByLabel('Languages').focus();
  await page.keyboard.press('Control+Enter');
  await card.getByText('Saved.').waitFor();
  assert.equal(await card.getByTestId('business-error-hours-Friday').count(), 0);

  const saved = (await api(server, 'GET', '/api/settings/business')).body;
  assert.equal(saved.name, 'Harbor Dental');
  assert.equal(saved.phone, '+1 (555) 010-2000');
  assert.deepEqual(saved.languages, ['en', 'es']);
  assert.deepEqual(saved.hours, [
    { day: 'Monday', open: '09:00', close: '17:30', closed: false },
    { day: 'Tuesday', open: '09:00', close: '17:30', closed: false },
    { day: 'Wednesday', open: '09:00', close: '17:30', closed: false },
    { day: 'Thursday', open: '09:00', close: '17:30', closed: false },
    { day: 'Friday', open: '09:00', close: '17:30', closed: false },
    { day: 'Saturday', open: '10:00', close: '14:00', closed: false },
    { day: 'Sunday', open: null, close: null, closed: true },
  ]);
  assert.equal(await card.getByLabel('Languages').inputValue(), 'en, es', 'the form shows what the server saved');

  // A phone the server refuses: its message next to the field, what was typed kept.
  await card.getByLabel('Phone', { exact: true }).fill('call 555-0100 after 5');
  await card.getByTestId('business-save').click();
  const phoneError = card.getByTestId('business-error-phone');
  await phoneError.waitFor();
  assert.match(await phoneError.innerText(), /may hold only digits, spaces and \+ - \( \) \./i);
  assert.equal(await card.getByLabel('Phone', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'biz-phone', 'the field with the error has the focus');
  assert.equal(await card.getByLabel('Phone', { exact: true }).inputValue(), 'call 555-0100 after 5');
  assert.equal((await api(server, 'GET', '/api/settings/business')).body.phone, '+1 (555) 010-2000', 'nothing saved');
  await shot(page, 'settings-business-error');

  // What was typed survives a reload as a draft, until discarded.
  await page.reload();
  await card.getByTestId('business-restored').waitFor();
  assert.equal(await card.getByLabel('Phone', { exact: true }).inputValue(), 'call 555-0100 after 5');
  await card.getByTestId('business-discard').click();
  assert.equal(await card.getByLabel('Phone', { exact: true }).inputValue(), '+1 (555) 010-2000');
  assert.equal(await card.getByTestId('business-restored').count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a website given on the first-run screen is onboarded and its progress opens', async (t) => {
  if (noProfile) return t.skip(noProfile);
  const site = http.createServer((req, res) => {
    if (req.url !== '/') {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>Not found</title>');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      '<!doctype html><html lang="en"><head><title>Harbor Dental</title></head><body><main><h1>Harbor Dental</h1>' +
        '<p>Harbor Dental is a family dental practice on Pier Street, open on weekdays from nine to half past five.</p></main></body></html>',
    );
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  const siteUrl = `http://127.0.0.1:${site.address().port}/`;
  const fresh = await startServer();
  try {
    const probe = await api(fresh, 'POST', '/api/onboard', { url: 'ftp://example.com' });
    if (probe.status === 404 || probe.status === 405) return t.skip(`no POST /api/onboard (HTTP ${probe.status})`);
    // The fixture site is on this machine: allow private addresses.
    const settings = (await api(fresh, 'GET', '/api/settings')).body;
    assert.equal((await api(fresh, 'PUT', '/api/settings', { ...settings, crawl_allow_private: true })).status, 200);

    const { context, page, errors } = await openFresh(fresh, { width: 420, height: 800 });
    await page.getByTestId('welcome-screen').waitFor();
    await page.getByLabel('What is your business called?').fill('Harbor Dental');
    await page.getByLabel('What is its website?').fill(siteUrl);
    await shot(page, 'first-run-narrow');
    await page.getByTestId('welcome-submit').click();

    const detail = page.getByTestId('job-detail');
    await detail.waitFor();
    const jobId = await detail.getAttribute('data-id');
    assert.equal(await page.evaluate(() => location.hash), `#/onboarding/${jobId}`);
    await page.locator('[data-testid="job-detail"][data-state="done"]').waitFor({ timeout: 30_000 });
    await page.waitForTimeout(400); // the progress bar's width animates
    await shot(page, 'first-run-onboarding');

    const profile = (await api(fresh, 'GET', '/api/settings/business')).body;
    assert.equal(profile.name, 'Harbor Dental');
    assert.equal(profile.website, siteUrl);
    const jobs = (await api(fresh, 'GET', '/api/jobs')).body;
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].id, jobId);
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await fresh.stop();
    await new Promise((ok) => site.close(ok));
  }
});
