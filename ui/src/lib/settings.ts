// Converting and checking the settings form (minutes on screen, seconds in the API).

/** The server's limits (crates/core/src/settings.rs). */
export const MIN_TIMEOUT_SECS = 10;
export const MAX_TIMEOUT_SECS = 7 * 24 * 3600;

/** Seconds as minutes for the form: "15", or "2.5" when not whole. */
export function secsToMinutes(secs: number): string {
  const m = secs / 60;
  return Number.isInteger(m) ? String(m) : String(Math.round(m * 100) / 100);
}

/** Minutes as typed ("15", "2.5", "2,5") to whole seconds; NaN when not a number. */
export function minutesToSecs(text: string): number {
  const t = text.trim().replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(t)) return NaN;
  return Math.round(Number(t) * 60);
}

/** Problems the server would refuse anyway, said before sending: by field (`timeout`, `webhook`). */
export function validateSettingsForm(timeoutText: string, webhook: string): Record<string, string> {
  const errors: Record<string, string> = {};
  const secs = minutesToSecs(timeoutText);
  if (!timeoutText.trim()) errors.timeout = 'Enter a number of minutes.';
  else if (Number.isNaN(secs)) errors.timeout = 'Enter a number of minutes, like 15.';
  else if (secs < MIN_TIMEOUT_SECS) errors.timeout = 'The timeout must be at least 10 seconds (0.17 minutes).';
  else if (secs > MAX_TIMEOUT_SECS) errors.timeout = 'The timeout can be at most 10080 minutes (7 days).';
  const w = webhook.trim();
  if (w) {
    let ok = false;
    try {
      const u = new URL(w);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) errors.webhook = 'Enter a full http:// or https:// address, or leave it empty.';
  }
  return errors;
}
