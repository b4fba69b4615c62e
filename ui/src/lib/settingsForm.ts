// What the settings cards share: loading a card's settings (a server without
// them leaves the card unsupported), and saving them with the problems shown
// in place: next to the field they concern, else above the save button.
// The state lives in one `$state` object per card; these functions only
// change it, so they are tested without Svelte.
import { ApiError, describeError } from '../api/client';

/** Field errors: what is wrong, by where it is shown. */
export type FieldErrors = Partial<Record<string, string>>;

export interface SettingsCardState<E extends FieldErrors = Record<string, string>> {
  /** The server has no such settings (an older Switchboard). */
  unsupported: boolean;
  loadError: string | null;
  saving: boolean;
  /** A refusal that names no field, shown above the save button. */
  formError: string | null;
  fieldErrors: E;
  /** When the last save succeeded; null once another starts. */
  savedAt: number | null;
}

export function settingsCard<E extends FieldErrors = Record<string, string>>(): SettingsCardState<E> {
  return { unsupported: false, loadError: null, saving: false, formError: null, fieldErrors: {} as E, savedAt: null };
}

/** The statuses an older server answers for settings it does not have. */
export const NOT_THERE: readonly number[] = [404, 405];

/**
 * Loads a card's settings into `fill`. `what` names them in the error
 * ("the speech settings"); `unsupported` lists the statuses that mean the
 * server has none.
 */
export async function loadSettings<V>(
  card: Pick<SettingsCardState, 'unsupported' | 'loadError'>,
  what: string,
  get: () => Promise<V>,
  fill: (view: V) => void,
  unsupported: readonly number[] = NOT_THERE,
): Promise<void> {
  card.loadError = null;
  card.unsupported = false;
  try {
    fill(await get());
  } catch (e) {
    if (e instanceof ApiError && unsupported.includes(e.status)) card.unsupported = true;
    else card.loadError = `Could not load ${what}: ${describeError(e)}`;
  }
}

export interface SaveSettings<V, E extends FieldErrors> {
  /** Problems found before sending; any stops the save. */
  check?: () => E;
  send: () => Promise<V>;
  /** Takes what the server saved. */
  fill: (saved: V) => void;
  /** The field errors for a refusal the form can show in place, else null. */
  place: (err: ApiError) => E | null;
  /**
   * For an API refusal naming no field the form shows, the server's words
   * (`Not saved: <problem>`) rather than the described error.
   */
  serverWords?: boolean;
  /** After field errors are shown (before sending, or from the server). */
  onFieldErrors?: () => void;
}

export function hasErrors(errors: FieldErrors): boolean {
  return Object.values(errors).some((e) => e);
}

/** What a failed save shows: errors in place, or one line for the form. */
export function saveFailure<E extends FieldErrors>(
  err: unknown,
  place: (err: ApiError) => E | null,
  serverWords = false,
): { fieldErrors: E } | { formError: string } {
  // The server's words, in place; what is typed stays.
  const placed = err instanceof ApiError ? place(err) : null;
  if (placed) return { fieldErrors: placed };
  if (serverWords && err instanceof ApiError && err.code !== 'network' && err.code !== 'http')
    return { formError: `Not saved: ${err.problem}` };
  return { formError: `Not saved: ${describeError(err)}` };
}

/** Checks, sends and takes back a card's settings; the form keeps what is typed when the save fails. */
export async function saveSettings<V, E extends FieldErrors>(
  card: SettingsCardState<E>,
  how: SaveSettings<V, E>,
): Promise<void> {
  card.savedAt = null;
  card.formError = null;
  card.fieldErrors = how.check ? how.check() : ({} as E);
  if (hasErrors(card.fieldErrors)) {
    how.onFieldErrors?.();
    return;
  }
  card.saving = true;
  try {
    how.fill(await how.send());
    card.savedAt = Date.now();
  } catch (err) {
    const failed = saveFailure(err, how.place, how.serverWords);
    if ('fieldErrors' in failed) {
      card.fieldErrors = failed.fieldErrors;
      how.onFieldErrors?.();
    } else card.formError = failed.formError;
  } finally {
    card.saving = false;
  }
}
