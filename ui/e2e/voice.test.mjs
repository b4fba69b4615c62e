// The browser call in Chromium with a fake microphone fed from a WAV that
// espeak-ng speaks at test time: the caller's words are transcribed by the
// real Whisper worker, the agent answers from the knowledge base, the reply
// plays, the live transcript shows both, and hanging up ends the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, api, launchBrowser, shot, TOKEN } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ demo: true });
  const dir = mkdtempSync(join(tmpdir(), 'sb-voice-'));
  const spoken = join(dir, 'spoken.wav');
  const wav = join(dir, 'caller.wav');
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', spoken, 'Do you sell gift cards?']);
  // Chromium loops the file: two seconds of silence first and after, so the
  // greeting plays before the question, and the question ends clearly.
  execFileSync('sox', [spoken, '-r', '48000', '-c', '1', '-b', '16', wav, 'pad', '2', '6']);
  browser = await launchBrowser([
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}`,
    '--autoplay-policy=no-user-gesture-required',
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a browser call: spoken question, spoken answer, live transcript, hang up', async () => {
  const r = await api(server, 'POST', '/api/knowledge-base', {
    question: 'Do you sell gift cards?',
    answer: 'Yes, we sell gift cards at the front desk.',
  });
  assert.ok([201, 409].includes(r.status), JSON.stringify(r));
  const status = await api(server, 'GET', '/api/voice');
  assert.equal(status.body.ready, true, JSON.stringify(status.body));

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${server.base}/#token=${TOKEN}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  await page.evaluate(() => (location.hash = '#/sessions'));
  await page.getByTestId('new-call').click();
  await page.getByTestId('call-panel').waitFor();
  await page.getByTestId('call-status').filter({ hasText: 'On the call' }).waitFor({ timeout: 20_000 });

  const transcript = page.getByTestId('call-transcript');
  await transcript.filter({ hasText: /gift cards/i }).waitFor({ timeout: 60_000 });
  await transcript.filter({ hasText: /front desk/i }).waitFor({ timeout: 60_000 });
  await shot(page, 'voice-call');

  // The session opened beside the panel is the call's, with the caller's
  // words transcribed.
  const detail = page.locator('[data-testid="session-detail"]');
  const id = await detail.getAttribute('data-id');
  await page.getByTestId('hang-up').click();
  await page.getByTestId('call-status').filter({ hasText: /ended/i }).waitFor({ timeout: 20_000 });
  const view = await api(server, 'GET', `/api/sessions/${id}`);
  assert.equal(view.body.session.channel, 'voice');
  assert.equal(view.body.session.status, 'ended');
  const caller = view.body.turns.find((t) => t.role === 'caller');
  assert.equal(caller.input.kind, 'transcribed');
  assert.match(caller.text, /gift cards/i);
  const agent = view.body.turns.findLast((t) => t.role === 'agent' && t.timings?.playback_start_ms != null);
  assert.ok(agent, 'a spoken reply with its timings');

  // The session screen draws where that turn's time went.
  await page.reload();
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  const fall = page.getByTestId('waterfall').first();
  await fall.waitFor({ timeout: 20_000 });
  assert.match(await fall.innerText(), /transcript[\s\S]*audio sent/);
  await shot(page, 'voice-waterfall');
  assert.deepEqual(errors, []);
});
