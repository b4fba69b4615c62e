// Harness for the browser end-to-end tests: the real `switchboard serve`
// binary on a free loopback port over a temp data dir, and Debian's Chromium
// driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const TOKEN = 'e2e-token-7f3a';
export const screenshots = join(repo, 'target', 'screenshots');
mkdirSync(screenshots, { recursive: true });

const bin = process.env.SWITCHBOARD_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, 'target'), 'debug', 'switchboard');

/**
 * Starts the server; resolves once it printed its URL. `demo` seeds the demo
 * business. No language model runs (`SWITCHBOARD_LLM_ENGINE=none`), so the
 * agent's replies are deterministic: learned answers, escalation otherwise.
 */
export async function startServer({ dataDir = mkdtempSync(join(tmpdir(), 'sb-e2e-')), bind = '127.0.0.1:0', demo = false } = {}) {
  const args = ['serve', '--bind', bind, '--data-dir', dataDir, '--ui-dir', join(repo, 'ui', 'dist')];
  if (demo) args.push('--demo');
  const child = spawn(bin, args, {
    env: { ...process.env, SWITCHBOARD_API_TOKEN: TOKEN, SWITCHBOARD_LLM_ENGINE: 'none', RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`server did not start: ${out}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/open (http:\/\/[^/\s]+)\//);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`server exited early (${code}): ${out}`)));
  });
  return {
    base,
    dataDir,
    demo,
    bind: base.replace('http://', ''),
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((ok) => child.on('exit', ok));
      child.kill('SIGTERM');
      await done;
    },
  };
}

/** An authenticated JSON call to the API; returns { status, body }. */
export async function api(server, method, path, body) {
  const res = await fetch(server.base + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/**
 * Names the business, so the first-run screen does not show (a new data dir
 * without `--demo` has no profile). A server without the profile route has
 * no first-run screen either: its 404 is fine.
 */
export async function nameBusiness(server, name = 'E2E Test Business') {
  const r = await api(server, 'PUT', '/api/settings/business', { name });
  if (r.status !== 200 && r.status !== 404 && r.status !== 405) throw new Error(`naming the business failed: ${JSON.stringify(r)}`);
  return r;
}

export async function createRequest(server, question, customer_name = 'Ada Lovelace') {
  const r = await api(server, 'POST', '/api/help-requests', { customer_name, channel: 'phone', question, customer_contact: '+1-555-0100' });
  if (r.status !== 201) throw new Error(`create failed: ${JSON.stringify(r)}`);
  return r.body;
}

/** `extraArgs`: more Chromium flags (a fake microphone, for one). */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

export async function shot(page, name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: false });
}
