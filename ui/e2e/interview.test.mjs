// Interviews in a real browser against the real server.
//
// Without LiveKit configured: the screen and its empty state, "New
// interview" failing in place with the server's message, a room whose agent
// failed (status, error, exports, join links failing in place), and the join
// page: no app token needed, a damaged link explained, an unreachable server
// reported.
//
// With a LiveKit server on loopback (the binary scripts/setup.sh test
// builds; skipped, saying so, when it is missing): a whole interview. The
// room is made from the UI, the agent transcribes, a candidate joins from
// their link in a browser with a fake microphone (no app token), the
// transcript appears live, a speaker is renamed, a viewer listens in, the
// transcript exports, the agent is taken out.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, api, launchBrowser, nameBusiness, shot, TOKEN } from './harness.mjs';

const LIVEKIT_VARS = ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET'];

let server;
let browser;

async function openApp(hash = '', viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport, acceptDownloads: true });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${server.base}/#token=${TOKEN}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  if (hash) await page.evaluate((h) => (location.hash = h), hash);
  return { page, errors };
}

describe('interviews without LiveKit', () => {
  before(async () => {
    // No LiveKit here, whatever the environment says.
    const saved = Object.fromEntries(LIVEKIT_VARS.map((k) => [k, process.env[k]]));
    for (const k of LIVEKIT_VARS) delete process.env[k];
    try {
      server = await startServer();
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
    }
    await nameBusiness(server);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the interviews screen: empty state, and "New interview" without LiveKit says what to set, in place', async () => {
    const { page, errors } = await openApp();
    await page.getByTestId('nav-interviews').click();
    await page.waitForFunction(() => location.hash === '#/interviews');
    assert.equal(await page.getByTestId('nav-interviews').getAttribute('aria-current'), 'page');

    const empty = page.getByTestId('interviews-empty');
    await empty.waitFor();
    assert.match(await empty.innerText(), /New interview/);
    assert.match(await page.getByTestId('interview-none').innerText(), /Start one with/i);
    // The list says LiveKit is missing before anyone presses anything.
    assert.match(await page.getByTestId('livekit-unavailable').innerText(), /LIVEKIT_URL/);
    await shot(page, 'interviews-empty');

    // A name the server would refuse is caught before sending, and kept.
    const name = page.getByTestId('new-room-name');
    await name.fill('bad name');
    await page.getByTestId('new-interview-button').click();
    const err = page.getByTestId('new-interview-error');
    await err.waitFor();
    assert.match(await err.innerText(), /letters, digits/);
    assert.equal(await name.inputValue(), 'bad name');

    // A good name: the server's 503 message, verbatim, where the button was pressed; the name stays.
    await name.fill('interview-e2e');
    await page.getByTestId('new-interview-button').click();
    await err.filter({ hasText: 'LIVEKIT_API_SECRET' }).waitFor();
    assert.match(await err.innerText(), /LiveKit is not configured: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET/);
    assert.equal(await name.inputValue(), 'interview-e2e', 'the typed name is not lost');
    assert.equal(await page.evaluate(() => location.hash), '#/interviews', 'no room opened');
    await shot(page, 'interviews-no-livekit');

    // g i comes back here from elsewhere.
    await page.evaluate(() => (location.hash = '#/queue/pending'));
    await page.locator('body').press('g');
    await page.locator('body').press('i');
    await page.waitForFunction(() => location.hash === '#/interviews');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a room whose agent failed: its status and error, exports, join links failing in place', async () => {
    // Sending the agent without LiveKit fails, and leaves the room's (empty) transcript behind.
    const sent = await api(server, 'POST', '/api/rooms/room-failed/agent', { mode: 'transcribe' });
    assert.equal(sent.status, 503, JSON.stringify(sent));

    const { page, errors } = await openApp('#/interviews/room-failed');
    const detail = page.locator('[data-testid="interview-detail"][data-room="room-failed"]');
    await detail.waitFor();
    await page.locator('[data-testid="interview-detail"][data-state="failed"]').waitFor();
    assert.equal(await page.getByTestId('agent-state').innerText(), 'Agent failed');
    assert.match(await page.getByTestId('agent-failure').innerText(), /The agent failed: LiveKit is not configured/);
    // The room's own socket is open (its snapshot said "failed").
    await page.getByTestId('room-live').filter({ hasText: 'Following live' }).waitFor();
    assert.match(await page.getByTestId('room-transcript-empty').innerText(), /Nothing was transcribed/);
    assert.match(await page.getByTestId('speakers-empty').innerText(), /Rename them/);

    // The list learned of the room from opening it.
    const row = page.locator('[data-testid="room-row"][data-id="room-failed"]');
    await row.waitFor();
    assert.match(await row.getByTestId('room-agent').innerText(), /Agent failed/);

    // Join links need LiveKit: the reason is shown where the links would be.
    const linksError = page.getByTestId('join-links-error');
    await linksError.waitFor();
    assert.match(await linksError.innerText(), /Could not make the join links: LiveKit is not configured/);

    // Sending the agent again fails in place, with what to set.
    await page.getByTestId('agent-transcribe').click();
    const agentError = page.getByTestId('agent-error');
    await agentError.waitFor();
    assert.match(await agentError.innerText(), /Could not send the agent: LiveKit is not configured/);
    await shot(page, 'interview-failed');

    // Exports download with the token (a plain link could not send it).
    for (const [format, pattern] of [
      ['txt', /\.txt$/],
      ['vtt', /\.vtt$/],
      ['srt', /\.srt$/],
      ['md', /\.md$/],
      ['json', /\.json$/],
    ]) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`export-${format}`).click()]);
      assert.match(download.suggestedFilename(), pattern);
      assert.match(download.suggestedFilename(), /^room-failed-transcript/);
      if (format === 'json') {
        const body = JSON.parse(await readFile(await download.path(), 'utf8'));
        assert.deepEqual(body.lines, []);
      }
    }
    assert.equal(await page.getByTestId('export-error').count(), 0);

    // Esc goes back to the list, j/Enter open the room again.
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => location.hash === '#/interviews');
    await page.getByTestId('interview-none').waitFor();
    await page.keyboard.press('j');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/interviews/room-failed');

    // A narrow window shows the room alone, with a way back.
    await page.setViewportSize({ width: 420, height: 800 });
    await page.getByRole('button', { name: 'Back to interviews' }).waitFor();
    assert.equal(await page.getByTestId('rooms').isVisible(), false);
    await shot(page, 'interview-narrow');
    await page.getByRole('button', { name: 'Back to interviews' }).click();
    await page.getByTestId('rooms').waitFor();
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the join page needs no app token, explains a damaged link and an unreachable server', async () => {
    // A fresh context: no API token in storage, as on a candidate's computer.
    const context = await browser.newContext({ viewport: { width: 800, height: 700 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));

    await page.goto(`${server.base}/#/join?room=r1&role=candidate`);
    await page.getByTestId('join-screen').waitFor();
    assert.equal(await page.getByTestId('token-screen').count(), 0, 'no token screen');
    assert.match(await page.getByTestId('join-problem').innerText(), /incomplete \(no url, access_token\)/);

    // A complete link to a LiveKit server nobody runs.
    const q = new URLSearchParams({ room: 'r1', role: 'candidate', url: 'ws://127.0.0.1:9', access_token: 'not-a-real-token' });
    await page.goto(`${server.base}/#/join?${q}`);
    await page.getByTestId('join-screen').waitFor();
    assert.equal(await page.getByTestId('join-room').innerText(), 'r1');
    assert.equal(await page.getByTestId('join-role').innerText(), 'Candidate');
    // The link's token is not taken for the app's API token.
    assert.equal(await page.evaluate(() => localStorage.getItem('switchboard.token')), null);
    assert.match(await page.evaluate(() => location.hash), /access_token=not-a-real-token/);
    await page.getByTestId('join-button').click();
    const err = page.getByTestId('join-error');
    await err.waitFor({ timeout: 45_000 });
    assert.match(await err.innerText(), /Could not connect to the room at ws:\/\/127\.0\.0\.1:9/);
    assert.equal(await page.getByTestId('join-button').innerText(), 'Join the interview', 'can try again');
    await shot(page, 'join-unreachable');

    // A viewer's link says it only listens.
    q.set('role', 'viewer');
    await page.goto(`${server.base}/#/join?${q}`);
    await page.getByTestId('join-button').filter({ hasText: 'Listen in' }).waitFor();
    assert.match(await page.getByTestId('join-screen').innerText(), /nobody hears you/);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

// ---------------------------------------------------------------------------
// With a LiveKit server

const LIVEKIT_BIN =
  process.env.SWITCHBOARD_LIVEKIT_BIN || join(homedir(), '.cache/switchboard/livekit/v1.13.5/livekit-server');
const LK_KEY = 'switchboard-e2e';
const LK_SECRET = 'an-e2e-secret-that-is-long-enough-0123';

function freeTcpPort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function freeUdpPort() {
  return new Promise((ok, fail) => {
    const s = createSocket('udp4');
    s.once('error', fail);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** LiveKit in development mode on loopback, as tests/src/livekit.rs starts it. */
async function startLiveKit() {
  const dir = mkdtempSync(join(tmpdir(), 'sb-e2e-lk-'));
  const port = await freeTcpPort();
  const config = join(dir, 'livekit.yaml');
  writeFileSync(
    config,
    `port: ${port}\nbind_addresses: [127.0.0.1]\nrtc:\n  tcp_port: ${await freeTcpPort()}\n  udp_port: ${await freeUdpPort()}\n` +
      `  enable_loopback_candidate: true\n  use_external_ip: false\nkeys:\n  ${LK_KEY}: ${LK_SECRET}\n`,
  );
  const child = spawn(LIVEKIT_BIN, ['--dev', '--node-ip', '127.0.0.1', '--config', config], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the LiveKit server exited (${child.exitCode})`);
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('the LiveKit server did not listen within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url: `ws://127.0.0.1:${port}`,
    stop() {
      child.kill('SIGKILL');
    },
  };
}

/** Whether the server's pages may open a connection to `url` (their Content-Security-Policy's connect-src). */
async function cspAllows(base, url) {
  const csp = (await fetch(`${base}/`)).headers.get('content-security-policy') ?? '';
  const m = /(?:^|;)\s*connect-src([^;]*)/.exec(csp) ?? /(?:^|;)\s*default-src([^;]*)/.exec(csp);
  if (!m) return true;
  const sources = m[1].trim().split(/\s+/);
  const u = new URL(url);
  return sources.some((s) => s === '*' || s === u.protocol || s === u.origin || s === `${u.protocol}//${u.host}`);
}

describe('an interview with a LiveKit server', { skip: !existsSync(LIVEKIT_BIN) && `no LiveKit server at ${LIVEKIT_BIN} (run scripts/setup.sh test, or set SWITCHBOARD_LIVEKIT_BIN)` }, () => {
  let livekit;
  let wav;

  before(async () => {
    livekit = await startLiveKit();
    const saved = Object.fromEntries(LIVEKIT_VARS.map((k) => [k, process.env[k]]));
    Object.assign(process.env, { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: LK_KEY, LIVEKIT_API_SECRET: LK_SECRET });
    try {
      server = await startServer();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    await nameBusiness(server);
    // The candidate's voice: a sentence, with silence around it (Chromium loops the file).
    const dir = mkdtempSync(join(tmpdir(), 'sb-e2e-voice-'));
    const spoken = join(dir, 'spoken.wav');
    wav = join(dir, 'candidate.wav');
    execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', spoken, 'I have five years of experience with databases.']);
    execFileSync('sox', [spoken, '-r', '48000', '-c', '1', '-b', '16', wav, 'pad', '1', '4']);
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
    livekit?.stop();
  });

  test("the join page may connect to the LiveKit server (the server's CSP connect-src names it)", async () => {
    assert.ok(await cspAllows(server.base, livekit.url), `connect-src does not allow ${livekit.url}`);
  });

  /** A join link opened as on someone else's computer: a fresh context, no app token. */
  async function openJoin(link) {
    const context = await browser.newContext({ viewport: { width: 800, height: 700 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(link);
    await page.getByTestId('join-screen').waitFor();
    return { context, page, errors };
  }

  test('a whole interview: made from the UI, transcribed live, renamed, exported, watched, ended', async () => {
    const { page, errors } = await openApp('#/interviews');
    await page.getByTestId('interviews-empty').waitFor();
    assert.equal(await page.getByTestId('livekit-unavailable').count(), 0);

    await page.getByTestId('new-room-name').fill('e2e-interview');
    await page.getByTestId('new-interview-button').click();
    const detail = page.locator('[data-testid="interview-detail"][data-room="e2e-interview"]');
    await detail.waitFor();
    await page.waitForFunction(() => location.hash === '#/interviews/e2e-interview');
    await page.locator('[data-testid="interview-detail"][data-state="in_room"]').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('agent-state').innerText(), 'Transcribing');
    await page.getByTestId('room-live').filter({ hasText: 'Following live' }).waitFor();
    assert.match(await page.getByTestId('room-transcript-empty').innerText(), /Listening/);
    const row = page.locator('[data-testid="room-row"][data-id="e2e-interview"]');
    await row.filter({ hasText: 'Transcribing' }).waitFor();
    assert.equal(await page.getByTestId('new-room-name').inputValue(), '', 'the form is ready for the next one');

    // Links for each seat, from the tokens the room was made with (and a viewer's).
    const linkOf = (seat) => page.getByTestId(`join-${seat}`).getByTestId('join-link');
    await linkOf('viewer').waitFor();
    const candidateLink = await linkOf('candidate').inputValue();
    const viewerLink = await linkOf('viewer').inputValue();
    assert.match(candidateLink, new RegExp(`^${server.base}/#/join\\?room=e2e-interview&role=candidate&url=ws%3A%2F%2F127\\.0\\.0\\.1%3A\\d+&access_token=`));
    assert.match(viewerLink, /role=viewer/);
    assert.match(await linkOf('interviewer').inputValue(), /role=interviewer/);
    await shot(page, 'interview-waiting');

    // The candidate joins from their link, on "their" computer.
    const cand = await openJoin(candidateLink);
    assert.equal(await cand.page.getByTestId('token-screen').count(), 0);
    await cand.page.getByTestId('join-button').click();
    await cand.page.getByTestId('join-state').filter({ hasText: 'Connected, microphone on' }).waitFor({ timeout: 30_000 });
    const agentThere = cand.page.locator('[data-testid="join-person"][data-identity="switchboard-agent"]');
    await agentThere.waitFor();
    assert.match(await cand.page.getByTestId('join-people').innerText(), /candidate \(you\)/);
    await cand.page
      .locator('[data-testid="join-person"][data-identity="candidate"][data-speaking="true"]')
      .waitFor({ timeout: 30_000 });
    await shot(cand.page, 'join-candidate');

    // What the candidate says appears in the supervisor's transcript, live.
    const said = page.locator('[data-testid="room-line"][data-speaker="candidate"]').filter({ hasText: /experience/i });
    await said.first().waitFor({ timeout: 90_000 });
    assert.equal(await said.first().getByTestId('line-speaker').innerText(), 'candidate');
    assert.match(await said.first().innerText(), /^\d\d:\d\d/);
    assert.match(await said.first().innerText(), /Candidate/);
    assert.match(await page.getByTestId('listening-to').innerText(), /candidate/);

    // Rename the candidate: an empty name is refused in place, then the real one shows on every line.
    const speaker = page.locator('[data-testid="speaker"][data-identity="candidate"]');
    await speaker.getByRole('button', { name: 'Rename candidate' }).click();
    const input = speaker.getByTestId('speaker-name-input');
    await input.fill('   ');
    await speaker.getByRole('button', { name: 'Save' }).click();
    await speaker.getByTestId('speaker-error').filter({ hasText: 'Type a name.' }).waitFor();
    await input.fill('Bo Candidate');
    await speaker.getByRole('button', { name: 'Save' }).click();
    await speaker.getByTestId('speaker-name').filter({ hasText: 'Bo Candidate' }).waitFor();
    await said.first().getByTestId('line-speaker').filter({ hasText: 'Bo Candidate' }).waitFor();
    await shot(page, 'interview-live');

    // The export says it with the new name.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-txt').click()]);
    assert.equal(download.suggestedFilename(), 'e2e-interview-transcript.txt');
    const text = await readFile(await download.path(), 'utf8');
    assert.match(text, /Bo Candidate/);
    assert.match(text, /experience/i);

    // A viewer listens in: no microphone, but sees who is there.
    const viewer = await openJoin(viewerLink);
    await viewer.page.getByTestId('join-button').filter({ hasText: 'Listen in' }).click();
    await viewer.page.getByTestId('join-state').filter({ hasText: 'Connected, listening' }).waitFor({ timeout: 30_000 });
    assert.equal(await viewer.page.getByTestId('join-mute').count(), 0);
    await viewer.page.locator('[data-testid="join-person"][data-identity="candidate"]').waitFor();
    await shot(viewer.page, 'join-viewer');
    await viewer.page.getByTestId('join-leave').click();
    await viewer.page.getByTestId('join-ended').filter({ hasText: 'You left the room.' }).waitFor();

    // The candidate mutes, unmutes, and leaves.
    await cand.page.getByTestId('join-mute').click();
    await cand.page.getByTestId('join-state').filter({ hasText: 'Connected, muted' }).waitFor();
    await cand.page.getByTestId('join-mute').click();
    await cand.page.getByTestId('join-state').filter({ hasText: 'Connected, microphone on' }).waitFor();
    await cand.page.getByTestId('join-leave').click();
    await cand.page.getByTestId('join-ended').filter({ hasText: 'You left the room.' }).waitFor();

    // The supervisor takes the agent out; the transcript stays.
    await page.getByTestId('agent-leave').click();
    await page.locator('[data-testid="interview-detail"][data-state="left"]').waitFor({ timeout: 20_000 });
    assert.equal(await page.getByTestId('agent-state').innerText(), 'Agent left');
    await page.getByTestId('agent-transcribe').waitFor();
    assert.ok((await said.count()) >= 1);
    await row.filter({ hasText: 'Agent left' }).waitFor();

    assert.deepEqual(cand.errors, []);
    assert.deepEqual(viewer.errors, []);
    assert.deepEqual(errors, []);
    await cand.context.close();
    await viewer.context.close();
    await page.close();
  });
});
