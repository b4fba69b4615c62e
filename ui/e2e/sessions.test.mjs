// Agent sessions in a real browser against the real server (demo business,
// no language model): a test chat that gets a learned answer, one that
// escalates, the supervisor's answer relayed into the open conversation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launchBrowser, shot, TOKEN } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ demo: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openApp(hash = '', viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport, acceptDownloads: true });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${server.base}/#token=${TOKEN}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  if (hash) await page.evaluate((h) => (location.hash = h), hash);
  return { page, errors };
}

/** Starts a test chat from the Sessions screen; returns its id. */
async function newChat(page) {
  await page.getByTestId('new-chat').click();
  const detail = page.locator('[data-testid="session-detail"][data-status="active"]');
  await detail.waitFor();
  return detail.getAttribute('data-id');
}

test('a test chat: a learned answer, an escalation, the answer relayed live, then the end', async () => {
  const { page, errors } = await openApp('#/sessions');
  await page.getByTestId('sessions-empty').waitFor();
  assert.match(await page.getByTestId('sessions-empty').innerText(), /start a test chat/i);
  await shot(page, 'sessions-empty');

  const id = await newChat(page);
  // The list hears of it from the event stream.
  const row = page.locator(`[data-testid="session-row"][data-id="${id}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /Test caller/);
  const box = page.getByLabel('Message');
  assert.equal(await box.evaluate((el) => el === document.activeElement), true, 'the message box has focus');
  assert.match(await page.getByTestId('agent-status').innerText(), /no language model/i);

  // A learned question: the fast path, answered at once.
  await box.fill('Are you open on Sundays?');
  await box.press('Enter');
  const fast = page.locator('[data-testid="turn"][data-role="agent"][data-decision="fast_path"]');
  await fast.waitFor();
  assert.match(await fast.getByTestId('turn-text').innerText(), /10/);
  assert.equal(await fast.getByTestId('decision').innerText(), 'fast path');
  assert.match(await fast.getByTestId('reason').innerText(), /learned answer/);
  assert.match(await fast.getByTestId('timings').innerText(), /first token .* total/);
  assert.equal(await box.inputValue(), '', 'the sent message left the box');
  await page.locator('[data-testid="turn"][data-role="caller"]').filter({ hasText: 'Are you open on Sundays?' }).waitFor();
  await row.filter({ hasText: '2 turns' }).waitFor();
  // The evidence is there, collapsed.
  await fast.getByTestId('evidence').locator('summary').click();
  assert.match(await fast.getByTestId('hit').first().innerText(), /score \d+\.\d/);
  await shot(page, 'session-fast-path');

  // Something nobody taught it: escalated, with a link to the help request.
  await box.fill('Do you offer keratin smoothing treatments?');
  await box.press('Enter');
  const esc = page.locator('[data-testid="turn"][data-decision="escalated"]');
  await esc.waitFor();
  assert.equal(await esc.getByTestId('decision').innerText(), 'escalated');
  const tool = page.getByTestId('tool-turn').filter({ hasText: 'request_help' });
  await tool.waitFor();
  assert.match(await tool.innerText(), /ok/);
  await row.filter({ hasText: 'Waiting on a supervisor' }).waitFor();
  const link = esc.getByTestId('help-link');
  const href = await link.getAttribute('href');
  const requestId = href.split('/').pop();
  assert.equal((await api(server, 'GET', `/api/help-requests/${requestId}`)).body.session_id, id);
  await shot(page, 'session-escalated');

  // A colleague follows the link in another window and answers; this one
  // keeps the conversation open.
  const other = await openApp(href);
  await other.page.getByTestId('request-detail').waitFor();
  const why = other.page.getByTestId('escalation-why');
  await why.getByTestId('why-reason').waitFor();
  assert.equal(await why.getByTestId('decision').innerText(), 'escalated');
  await shot(other.page, 'request-why-escalated');
  await other.page.getByLabel('Answer').fill('Yes, keratin smoothing is 180 dollars and takes about two and a half hours.');
  await other.page.getByRole('button', { name: 'Send' }).click();
  await other.page.getByTestId('outcome').waitFor();

  // The answer is relayed into the open transcript, live.
  const relay = page.locator('[data-testid="turn"][data-decision="relay"]');
  await relay.waitFor({ timeout: 15_000 });
  assert.match(await relay.getByTestId('turn-text').innerText(), /180 dollars/);
  assert.equal(await relay.getByTestId('decision').innerText(), 'relay');
  await shot(page, 'session-relayed');

  // The other window follows "Open conversation" to the same transcript.
  await other.page.getByTestId('open-conversation').click();
  await other.page.locator(`[data-testid="session-detail"][data-id="${id}"] [data-decision="relay"]`).waitFor();
  await other.page.close();

  // Export downloads the transcript.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-md').click()]);
  assert.match(download.suggestedFilename(), /\.md$/);

  // End it.
  await page.getByTestId('end-session').click();
  await page.getByRole('button', { name: 'Yes, end it' }).click();
  await page.getByTestId('session-status').filter({ hasText: 'Ended' }).waitFor();
  await row.locator('[data-testid="session-state"]').filter({ hasText: 'Ended' }).waitFor();
  assert.equal((await api(server, 'GET', `/api/sessions/${id}`)).body.session.status, 'ended');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a message to a session that ended shows the error where it was typed, and keeps the text', async () => {
  const { page, errors } = await openApp('#/sessions');
  const id = await newChat(page);
  const box = page.getByLabel('Message');
  const text = 'Can I still book for Saturday?';
  await box.fill(text);
  // Ended elsewhere while the text was being typed.
  assert.equal((await api(server, 'POST', `/api/sessions/${id}/end`)).status, 200);
  await page.getByTestId('session-status').filter({ hasText: 'Ended' }).waitFor();
  assert.equal(await box.inputValue(), text, 'the typed text stays');
  await box.press('Enter');
  const err = page.getByTestId('chat-error');
  await err.waitFor();
  assert.match(await err.innerText(), /session has ended/i);
  assert.equal(await box.inputValue(), text, 'nothing typed is lost');
  await shot(page, 'session-ended-error');
  assert.deepEqual(errors, []);
  await page.close();
});

test('sessions started elsewhere appear live, and a narrow window shows the conversation', async () => {
  const { page } = await openApp('#/sessions', { width: 420, height: 800 });
  const started = await api(server, 'POST', '/api/sessions', { channel: 'voice', caller_name: 'Priya Raman' });
  assert.equal(started.status, 201);
  const row = page.locator(`[data-testid="session-row"][data-id="${started.body.id}"]`);
  await row.waitFor();
  await shot(page, 'sessions-narrow');
  await row.click();
  await page.locator(`[data-testid="session-detail"][data-id="${started.body.id}"]`).waitFor();
  await page.getByTestId('transcript-empty').waitFor();
  // A turn arrives while it is open (the JSON form of the message route).
  const res = await fetch(`${server.base}/api/sessions/${started.body.id}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ text: 'Are you open on Sundays?' }),
  });
  assert.equal(res.status, 200);
  await page.locator('[data-testid="turn"][data-decision="fast_path"]').waitFor();
  await shot(page, 'session-narrow');

  // Back to the list (Esc), and a test chat in the narrow window.
  await page.locator('body').click({ position: { x: 5, y: 300 } });
  await page.keyboard.press('Escape');
  await page.getByTestId('new-chat').waitFor();
  await page.keyboard.press('n');
  const box = page.getByLabel('Message');
  await box.waitFor();
  await box.fill('Hello there');
  await box.press('Enter');
  await page.locator('[data-testid="turn"][data-decision="small_talk"]').waitFor();
  await shot(page, 'chat-narrow');
  await page.close();
});
