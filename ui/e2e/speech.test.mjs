// Settings → Speech in a real browser against the real server: the offline
// engines at first; Deepgram chosen without a key (said before sending);
// with a key, the server tries Deepgram, cannot use it (this machine has no
// internet, so the check fails) and the refusal shows in place with
// everything typed kept and nothing saved; back to offline, a key saved for
// later, then removed; an ElevenLabs voice id checked; a key set by the
// environment. Then a session's cloud usage and the note that a call moved
// to the offline engines (the session's JSON is given both in the browser,
// since no cloud service can run a call here).
// Skips itself when the server has no /api/settings/speech yet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, nameBusiness, launchBrowser, shot, TOKEN } from './harness.mjs';

const KEY = 'e2eDeepgramKey0123456789abcdef';

let server;
let browser;
/** Set when `GET /api/settings/speech` is missing: every test skips. */
let noSpeech = null;

before(async () => {
  server = await startServer();
  const probe = await api(server, 'GET', '/api/settings/speech');
  if (probe.status !== 200) {
    noSpeech = `this switchboard build has no GET /api/settings/speech (HTTP ${probe.status}); rebuild it with cloud speech`;
    return;
  }
  await nameBusiness(server);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openSettings(srv = server) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  const puts = [];
  page.on('request', (r) => {
    if (r.method() === 'PUT' && new URL(r.url()).pathname === '/api/settings/speech') puts.push(r.postDataJSON());
  });
  await page.goto(`${srv.base}/#token=${TOKEN}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  await page.evaluate(() => (location.hash = '#/settings'));
  const card = page.getByTestId('speech-settings');
  await card.waitFor();
  await card.getByTestId('speech-save').waitFor();
  return { page, card, errors, puts };
}

const keyField = (card, service) => card.locator(`#speech-key-${service}`);
const saved = async () => (await api(server, 'GET', '/api/settings/speech')).body;
const keyOf = (view, service) => view.keys.find((k) => k.service === service);

test('Settings → Speech: a key the server cannot use is refused in place, nothing typed is lost, nothing is saved', async (t) => {
  if (noSpeech) return t.skip(noSpeech);
  const { page, card, errors, puts } = await openSettings();

  // The offline engines, no key set, nothing to save.
  assert.equal(await card.getByLabel('Speech-to-text').inputValue(), 'offline');
  assert.equal(await card.getByLabel('Voice', { exact: true }).inputValue(), 'offline');
  assert.equal(await card.getByLabel('Voice-to-voice service').inputValue(), 'none');
  assert.equal(await card.locator('#speech-stt option:checked').innerText(), 'Offline (Whisper)');
  assert.equal(await card.locator('#speech-tts option:checked').innerText(), 'Offline (Piper)');
  assert.match(await card.innerText(), /listens, thinks and speaks itself, in place of the two engines above/);
  for (const s of ['deepgram', 'elevenlabs', 'gemini']) {
    assert.equal(await keyField(card, s).getAttribute('placeholder'), 'not set', s);
    assert.equal(await keyField(card, s).inputValue(), '', s);
    assert.equal(await keyField(card, s).getAttribute('type'), 'password', s);
    assert.equal(await card.getByTestId(`speech-remove-${s}`).count(), 0, s);
  }
  assert.equal(await card.getByTestId('speech-status').count(), 0, 'no warning');
  assert.equal(await card.getByTestId('speech-save').isDisabled(), true, 'nothing to save yet');
  await card.scrollIntoViewIfNeeded();
  await shot(page, 'settings-speech');

  // Deepgram without a key: said next to its key, nothing sent.
  await card.getByLabel('Speech-to-text').selectOption('deepgram');
  assert.match(await card.getByTestId('speech-key-deepgram').innerText(), /Used for speech-to-text\./);
  await card.getByTestId('speech-save').click();
  const dgError = card.getByTestId('speech-error-deepgram');
  assert.match(await dgError.innerText(), /Deepgram is chosen for speech-to-text: type its API key \(or set DEEPGRAM_API_KEY\)/);
  assert.equal(await keyField(card, 'deepgram').getAttribute('aria-invalid'), 'true');
  assert.equal(puts.length, 0, 'nothing sent');

  // With a key: the server tries Deepgram first (slowed down here so the
  // wait can be seen), and cannot use it.
  await keyField(card, 'deepgram').fill(KEY);
  await page.route('**/api/settings/speech', async (route) => {
    if (route.request().method() === 'PUT') await new Promise((r) => setTimeout(r, 800));
    await route.continue();
  });
  await card.getByTestId('speech-save').click();
  await card.getByTestId('speech-save').filter({ hasText: 'Saving…' }).waitFor();
  assert.equal(await card.getByTestId('speech-checking').innerText(), 'Checking the service…');
  assert.equal(await card.getByTestId('speech-save').isDisabled(), true);
  const formError = card.getByTestId('speech-error');
  await formError.or(dgError).waitFor();
  await page.unroute('**/api/settings/speech');
  assert.equal(puts.length, 1);
  assert.deepEqual(puts[0], { stt: 'deepgram', tts: 'offline', voice_agent: 'none', elevenlabs_voice: puts[0].elevenlabs_voice, api_key: { deepgram: KEY } });
  if (await formError.count()) {
    // No internet (this machine): Deepgram cannot be reached.
    assert.match(await formError.innerText(), /^Not saved: Deepgram could not be reached/);
    assert.equal(await dgError.count(), 0);
  } else {
    // Reached, it refuses a made-up key: said next to the key.
    assert.match(await dgError.innerText(), /Deepgram refused the API key/);
  }
  assert.equal(await card.getByTestId('speech-checking').count(), 0);
  assert.equal(await card.getByText('Saved.').count(), 0);
  // Everything typed stays: the choice, and the key in its field (only there).
  assert.equal(await card.getByLabel('Speech-to-text').inputValue(), 'deepgram');
  assert.equal(await keyField(card, 'deepgram').inputValue(), KEY);
  assert.equal((await page.content()).includes(KEY), false, "the key is in the field's value, never in the page's HTML");
  assert.equal(await card.getByTestId('speech-save').isDisabled(), false, 'it can be tried again');
  // Nothing was saved.
  const after = await saved();
  assert.equal(after.stt, 'offline');
  assert.equal(keyOf(after, 'deepgram').set, false);
  await card.scrollIntoViewIfNeeded();
  await shot(page, 'settings-speech-refused');

  // Back to offline with the key still typed: saved for later, without a check.
  await card.getByLabel('Speech-to-text').selectOption('offline');
  await card.getByTestId('speech-save').click();
  await card.getByText('Saved.').waitFor();
  assert.equal(await formError.count(), 0);
  let view = await saved();
  assert.equal(view.stt, 'offline');
  assert.equal(view.tts, 'offline');
  assert.equal(view.voice_agent, 'none');
  assert.deepEqual(keyOf(view, 'deepgram'), { service: 'deepgram', set: true, from_environment: false, env_var: 'DEEPGRAM_API_KEY' });
  assert.equal(JSON.stringify(view).includes(KEY), false, 'views never carry keys');
  // The field is empty again and says a key is set; it is nowhere on the page.
  assert.equal(await keyField(card, 'deepgram').inputValue(), '');
  assert.equal(await keyField(card, 'deepgram').getAttribute('placeholder'), 'set — leave empty to keep');
  assert.equal((await page.content()).includes(KEY), false);
  assert.equal(await card.getByTestId('speech-save').isDisabled(), true);

  // Removed.
  await card.getByTestId('speech-remove-deepgram').check();
  assert.equal(await keyField(card, 'deepgram').getAttribute('placeholder'), 'will be removed');
  assert.equal(await keyField(card, 'deepgram').isDisabled(), true);
  await card.getByTestId('speech-save').click();
  await card.getByText('Saved.').waitFor();
  assert.equal(puts.at(-1).api_key.deepgram, '');
  view = await saved();
  assert.equal(keyOf(view, 'deepgram').set, false);
  assert.equal(await keyField(card, 'deepgram').getAttribute('placeholder'), 'not set');
  assert.equal(await card.getByTestId('speech-remove-deepgram').count(), 0);

  // ElevenLabs speaking: its voice id shows, and is checked before sending.
  assert.equal(await card.getByTestId('speech-voice').count(), 0);
  await card.getByLabel('Voice', { exact: true }).selectOption('elevenlabs');
  const voice = card.getByLabel('ElevenLabs voice id');
  assert.equal(await voice.inputValue(), view.elevenlabs_voice);
  await voice.fill('not a voice!');
  await card.getByTestId('speech-save').click();
  assert.match(await card.getByTestId('speech-error-elevenlabs_voice').innerText(), /letters and digits/);
  assert.match(await card.getByTestId('speech-error-elevenlabs').innerText(), /ElevenLabs is chosen for the voice/);

  // Voice-to-voice: its key is asked for too.
  await card.getByLabel('Voice-to-voice service').selectOption('gemini');
  assert.match(await card.getByTestId('speech-key-gemini').innerText(), /Used for voice-to-voice\./);
  await card.getByTestId('speech-save').click();
  assert.match(await card.getByTestId('speech-error-gemini').innerText(), /Gemini is chosen for voice-to-voice/);
  await card.scrollIntoViewIfNeeded();
  await shot(page, 'settings-speech-checks');

  // All back as saved: nothing to save; nothing more was sent.
  await card.getByLabel('Voice-to-voice service').selectOption('none');
  await card.getByLabel('Voice', { exact: true }).selectOption('offline');
  assert.equal(await card.getByTestId('speech-voice').count(), 0);
  assert.equal(await card.getByTestId('speech-save').isDisabled(), true);
  assert.equal(puts.length, 3);
  assert.deepEqual(errors, []);
  await page.close();
});

test('Settings → Speech: a key from the environment says so and cannot be removed here', async (t) => {
  if (noSpeech) return t.skip(noSpeech);
  process.env.DEEPGRAM_API_KEY = KEY;
  let envServer;
  try {
    envServer = await startServer();
  } finally {
    delete process.env.DEEPGRAM_API_KEY;
  }
  try {
    await nameBusiness(envServer);
    const { page, card, errors } = await openSettings(envServer);
    assert.equal(await keyField(card, 'deepgram').getAttribute('placeholder'), 'set by DEEPGRAM_API_KEY');
    assert.equal(await card.getByTestId('speech-remove-deepgram').count(), 0);
    assert.match(await card.getByTestId('speech-key-deepgram').innerText(), /Or change DEEPGRAM_API_KEY\./);
    assert.equal(await keyField(card, 'gemini').getAttribute('placeholder'), 'not set');
    // Chosen with the environment's key: nothing asked before sending.
    await card.getByLabel('Speech-to-text').selectOption('deepgram');
    await card.getByTestId('speech-save').click();
    await card.getByTestId('speech-error').or(card.getByTestId('speech-error-deepgram')).waitFor();
    assert.equal((await page.content()).includes(KEY), false);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await envServer.stop();
  }
});

test("a session's cloud usage, and the note that its call moved to the offline engines", async (t) => {
  if (noSpeech) return t.skip(noSpeech);
  const started = await api(server, 'POST', '/api/sessions', { channel: 'voice', caller_name: 'Priya Raman' });
  assert.equal(started.status, 201);
  const id = started.body.id;
  const msg = await fetch(`${server.base}/api/sessions/${id}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ text: 'Are you open on Sundays?' }),
  });
  assert.equal(msg.status, 200);
  assert.equal((await api(server, 'POST', `/api/sessions/${id}/end`)).status, 200);

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  // No cloud service can run a call here: the stored session, with the
  // usage and the note a call on Deepgram would have left.
  const noteText =
    'Moved to the offline speech engines: speech engine failed: Deepgram closed the connection mid-utterance (code 1011: internal error); whisper takes over for the rest of the call.';
  await page.route(`**/api/sessions/${id}`, async (route) => {
    const res = await route.fetch();
    const view = await res.json();
    const last = view.turns.at(-1);
    view.turns.push({
      ...last,
      id: '00000000-0000-7000-8000-00000000e2e1',
      seq: last.seq + 1,
      role: 'tool',
      text: noteText,
      grounding: null,
      timings: null,
      tool: { call_id: '', name: 'speech_engine', arguments: '', ok: true, result: { note: noteText } },
    });
    view.session.turn_count = last.seq + 1;
    view.session.usage = {
      deepgram: { sent_seconds: 12.34, received_seconds: 8 },
      elevenlabs: { sent_seconds: 0, received_seconds: 3.5 },
    };
    await route.fulfill({ response: res, json: view });
  });
  await page.goto(`${server.base}/#token=${TOKEN}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  await page.evaluate((h) => (location.hash = h), `#/sessions/${id}`);
  const detail = page.locator(`[data-testid="session-detail"][data-id="${id}"]`);
  await detail.getByTestId('cloud-usage').waitFor();
  assert.equal(
    await detail.getByTestId('cloud-usage').innerText(),
    'Deepgram: 12.3 s sent, 8.0 s received · ElevenLabs: 0.0 s sent, 3.5 s received',
  );
  const note = detail.getByTestId('engine-note');
  assert.equal(await note.isVisible(), true);
  assert.match(await note.innerText(), /Speech engines changed/);
  assert.match(await note.innerText(), /Deepgram closed the connection mid-utterance .* whisper takes over/);
  assert.equal(await note.getAttribute('role'), 'note');
  // Not shown as a tool the agent called.
  assert.equal(await detail.getByTestId('tool-turn').filter({ hasText: 'speech_engine' }).count(), 0);
  await shot(page, 'session-cloud-usage');
  await page.unroute(`**/api/sessions/${id}`);

  // The stored session as it is (only offline engines ran): no usage line, no note.
  await page.reload();
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  await detail.getByTestId('turn-count').waitFor();
  await detail.locator('[data-testid="turn"][data-role="caller"]').waitFor();
  assert.equal(await detail.getByTestId('cloud-usage').count(), 0);
  assert.equal(await detail.getByTestId('engine-note').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});
