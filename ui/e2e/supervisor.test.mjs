// The supervisor's day in a real browser against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, createRequest, launchBrowser, nameBusiness, shot, TOKEN } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  // A new data dir: name the business so the first-run screen does not show.
  await nameBusiness(server);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openApp(viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${server.base}/#token=${TOKEN}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, errors };
}

test('a new help request appears live and is answered from the keyboard', async () => {
  const { page, errors } = await openApp();
  await shot(page, 'queue-empty');
  const question = 'Can I bring my dog to my appointment?';
  const req = await createRequest(server, question);

  // No reload: the event stream delivers it.
  const row = page.locator(`[data-testid="queue-row"][data-id="${req.id}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /bring my dog/);
  await shot(page, 'queue');

  // j selects, Enter opens, r focuses the answer, Ctrl+Enter sends.
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('j');
  await page.keyboard.press('Enter');
  // The question is in the queue row too: wait for the request screen
  // itself (its answer box) before pressing r, or r lands on the queue.
  const answer = page.getByLabel('Answer');
  await answer.waitFor();
  await page.keyboard.press('r');
  await waitFor(async () => answer.evaluate((el) => el === document.activeElement)); // r focuses the answer box
  await page.keyboard.type('Well-behaved dogs are welcome in the waiting area.');
  await shot(page, 'request');
  await page.keyboard.press('Control+Enter');

  // Stored as resolved, and the UI moved it out of pending.
  await waitFor(async () => (await api(server, 'GET', `/api/help-requests/${req.id}`)).body.status === 'resolved');
  await page.locator(`[data-testid="queue-row"][data-id="${req.id}"]`).waitFor({ state: 'detached' }).catch(() => {});
  await page.goto(`${server.base}/#/queue/resolved`);
  await page.locator(`[data-testid="queue-row"][data-id="${req.id}"]`).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('an empty answer is refused in the UI', async () => {
  const { page } = await openApp();
  const req = await createRequest(server, 'Do you offer scalp massages?');
  await page.goto(`${server.base}/#/requests/${req.id}`);
  await page.getByLabel('Answer').waitFor();
  await page.getByLabel('Answer').fill('   ');
  await page.getByLabel('Answer').press('Control+Enter');
  const send = page.getByRole('button', { name: 'Send' });
  assert.equal(await send.isDisabled(), true, 'Send is disabled for a blank answer');
  assert.equal((await api(server, 'GET', `/api/help-requests/${req.id}`)).body.status, 'pending');
  await page.close();
});

test('an answer only for this caller reaches them and is not learned', async () => {
  const { page, errors } = await openApp();
  const question = 'Did my order with the green kettle ship?';
  const req = await createRequest(server, question);
  await page.goto(`${server.base}/#/requests/${req.id}`);
  await page.getByLabel('Answer').waitFor();
  const answer = 'Yes, it shipped to 12 Elm St yesterday.';
  await page.getByLabel('Answer').fill(answer);
  await page.getByTestId('only-for-caller').check();
  await page.getByText(/to this caller only/).waitFor();
  await page.getByTestId('send').click();
  await waitFor(async () => (await api(server, 'GET', `/api/help-requests/${req.id}`)).body.status === 'resolved');
  const kb = (await api(server, 'GET', '/api/knowledge-base')).body;
  assert.equal(kb.some((e) => e.answer === answer), false, 'a private answer is not learned');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the knowledge base finds what a supervisor taught, with its score and source', async () => {
  const req = await createRequest(server, 'Do you sell gift vouchers for balayage?');
  const done = await api(server, 'POST', `/api/help-requests/${req.id}/response`, { answer: 'Yes, vouchers from $25 cover any service.', supervisor: 'Sam' });
  assert.equal(done.status, 200);
  const { page } = await openApp();
  await page.goto(`${server.base}/#/knowledge`);
  const search = page.getByLabel('Search knowledge');
  await search.waitFor();
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('/');
  assert.equal(await search.evaluate((el) => el === document.activeElement), true, '/ focuses search');
  await page.keyboard.type('gift vouchers');
  await page.getByText('vouchers from $25').first().waitFor();
  const text = await page.locator('main').innerText();
  assert.match(text, /\d+\.\d/, 'a score is shown');
  assert.match(text, /learned/i, 'the source is shown');
  await shot(page, 'knowledge');
  await page.close();
});

test('a stale answer shows who won instead of failing silently', async () => {
  const req = await createRequest(server, 'Do you do bridal trials on Mondays?');
  const { page } = await openApp();
  await page.goto(`${server.base}/#/requests/${req.id}`);
  await page.getByLabel('Answer').fill('Yes, by appointment.');
  // A colleague answers first.
  assert.equal((await api(server, 'POST', `/api/help-requests/${req.id}/response`, { answer: 'Mondays we are closed.', supervisor: 'Kim' })).status, 200);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByText(/already answered by Kim/i).first().waitFor();
  await shot(page, 'conflict');
  await page.close();
});

test('settings are loaded and saved', async () => {
  const { page } = await openApp();
  await page.goto(`${server.base}/#/settings`);
  const timeout = page.getByLabel(/timeout/i).first();
  await timeout.waitFor();
  await timeout.fill('20');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await waitFor(async () => (await api(server, 'GET', '/api/settings')).body.request_timeout_secs === 1200);
  await shot(page, 'settings');
  await page.close();
});

test('the language model is chosen in settings, with errors in place and the key never shown', async () => {
  const { page } = await openApp();
  await page.goto(`${server.base}/#/settings`);
  const status = page.getByTestId('model-status');
  await status.filter({ hasText: 'No language model' }).waitFor();
  await page.getByLabel('Engine').selectOption('openai');
  await page.getByLabel('Base URL').fill('http://127.0.0.1:9/v1');
  const save = page.getByRole('button', { name: 'Save model' });
  await save.click();
  // No model name: refused in place, nothing saved, what was typed kept.
  await page.getByTestId('model-settings').getByText('is required for an OpenAI-compatible server').waitFor();
  assert.equal((await api(server, 'GET', '/api/settings/model')).body.settings.engine, 'none');
  assert.equal(await page.getByLabel('Base URL').inputValue(), 'http://127.0.0.1:9/v1');
  await page.getByLabel('Model', { exact: true }).fill('qwen2.5');
  await page.getByTestId('model-settings').getByLabel('API key').fill('sk-e2e-secret');
  await save.click();
  await status.filter({ hasText: 'Ready: openai (qwen2.5)' }).waitFor();
  const saved = await api(server, 'GET', '/api/settings/model');
  assert.equal(saved.body.api_key_set, true);
  assert.ok(!JSON.stringify(saved.body).includes('sk-e2e-secret'));
  assert.equal(await page.getByTestId('model-settings').getByLabel('API key').getAttribute('placeholder'), 'saved (type to replace)');
  await shot(page, 'settings-model');
  // Back to none, so the other tests keep a model-free server.
  await page.getByLabel('Engine').selectOption('none');
  await save.click();
  await status.filter({ hasText: 'No language model' }).waitFor();
  await page.close();
});

test('LiveKit is set in settings: refusals shown in place, what was typed kept, the secret never shown', async (t) => {
  const probe = await api(server, 'GET', '/api/settings/livekit');
  if (probe.status !== 200) return t.skip(`this build has no GET /api/settings/livekit (HTTP ${probe.status})`);
  if (probe.body.from_environment) return t.skip('LIVEKIT_* is set in this environment');
  const { page, errors } = await openApp();
  await page.goto(`${server.base}/#/settings`);
  const card = page.getByTestId('livekit-settings');
  const status = card.getByTestId('livekit-status');
  await status.filter({ hasText: 'Not configured' }).waitFor();
  await card.getByLabel('LiveKit URL').fill('ftp://lk.example');
  await card.getByLabel('LiveKit API key').fill('APIe2e');
  await card.getByLabel('LiveKit API secret').fill('e2e-livekit-secret');
  const save = card.getByRole('button', { name: 'Save LiveKit settings' });
  await save.click();
  // The server's own words, in the section; nothing saved, nothing lost.
  await card.getByTestId('livekit-error').filter({ hasText: 'must start with ws://, wss://, http:// or https://' }).waitFor();
  assert.equal((await api(server, 'GET', '/api/settings/livekit')).body.configured, false);
  assert.equal(await card.getByLabel('LiveKit URL').inputValue(), 'ftp://lk.example');
  assert.equal(await card.getByLabel('LiveKit API secret').inputValue(), 'e2e-livekit-secret');
  await card.getByLabel('LiveKit URL').fill('wss://lk.example');
  await save.click();
  await status.filter({ hasText: 'Configured. Changes apply at once' }).waitFor();
  const saved = await api(server, 'GET', '/api/settings/livekit');
  assert.equal(saved.body.url, 'wss://lk.example');
  assert.equal(saved.body.api_secret_set, true);
  assert.ok(!JSON.stringify(saved.body).includes('e2e-livekit-secret'));
  const secret = card.getByLabel('LiveKit API secret');
  assert.equal(await secret.inputValue(), '');
  assert.equal(await secret.getAttribute('placeholder'), 'saved — leave empty to keep');
  await shot(page, 'settings-livekit');
  // Off again (empty URL and key, secret removed), so other tests see no LiveKit.
  await card.getByLabel('LiveKit URL').fill('');
  await card.getByLabel('LiveKit API key').fill('');
  await card.getByTestId('livekit-remove-secret').check();
  await save.click();
  await status.filter({ hasText: 'Not configured' }).waitFor();
  const off = (await api(server, 'GET', '/api/settings/livekit')).body;
  assert.equal(off.configured, false);
  assert.equal(off.api_secret_set, false);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a narrow window still shows the queue', async () => {
  await createRequest(server, 'Is there parking nearby?');
  const { page } = await openApp({ width: 420, height: 800 });
  await page.locator('[data-testid="queue-row"]').first().waitFor();
  await shot(page, 'queue-narrow');
  await page.close();
});

test('with review on, an answer teaches the agent only when approved on the request', async () => {
  const settings = (await api(server, 'GET', '/api/settings')).body;
  assert.equal((await api(server, 'PUT', '/api/settings', { ...settings, review_learned: true })).status, 200);
  const req = await createRequest(server, 'Do you sell hair vitamins?');
  const answer = 'Yes, a one-month pack is at the front desk.';
  const done = await api(server, 'POST', `/api/help-requests/${req.id}/response`, { answer });
  assert.equal(done.status, 200);
  assert.equal(done.body.knowledge_entry, null);
  const { page, errors } = await openApp();
  await page.goto(`${server.base}/#/requests/${req.id}`);
  await page.getByTestId('learn-review').waitFor();
  await page.getByRole('button', { name: 'Teach the agent' }).click();
  await page.getByTestId('learn-review').waitFor({ state: 'detached' });
  const kb = (await api(server, 'GET', '/api/knowledge-base')).body;
  assert.equal(kb.some((e) => e.answer === answer && e.source === 'learned'), true);
  assert.equal((await api(server, 'PUT', '/api/settings', { ...settings, review_learned: false })).status, 200);
  assert.deepEqual(errors, []);
  await page.close();
});

test('when the server goes away the UI says so and keeps what was typed', async () => {
  const req = await createRequest(server, 'Do you sell wigs?');
  const { page } = await openApp();
  await page.goto(`${server.base}/#/requests/${req.id}`);
  await page.getByLabel('Answer').fill('We can order one in for you.');
  const { dataDir, bind } = server;
  await server.stop();
  await page.getByTestId('connection').filter({ hasText: 'Reconnecting' }).waitFor();
  assert.equal(await page.getByLabel('Answer').inputValue(), 'We can order one in for you.');
  await shot(page, 'reconnecting');
  server = await startServer({ dataDir, bind });
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 20_000 });
  assert.equal(await page.getByLabel('Answer').inputValue(), 'We can order one in for you.');
  await page.close();
});

async function waitFor(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('condition not met in time');
}
