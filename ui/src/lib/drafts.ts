// Drafts survive reloads, reconnects and failed sends: everything typed into
// an answer (or a knowledge entry) is kept in localStorage until it is sent.

/** The part of `Storage` drafts need; tests pass a Map-backed one. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface AnswerDraft {
  answer: string;
  topic: string;
  notes: string;
  /** The "Can't answer" toggle. */
  cantAnswer: boolean;
}

export const emptyAnswerDraft = (): AnswerDraft => ({ answer: '', topic: '', notes: '', cantAnswer: false });

export function isBlankDraft(d: AnswerDraft): boolean {
  return !d.answer.trim() && !d.topic.trim() && !d.notes.trim() && !d.cantAnswer;
}

const PREFIX = 'switchboard.draft.';

export function draftKey(kind: string, id: string): string {
  return `${PREFIX}${kind}.${id}`;
}

/** A typed draft store for one kind of draft (`request`, `kb`, ...). */
export class Drafts<T extends object> {
  constructor(
    private readonly storage: KeyValueStore | null,
    private readonly kind: string,
    private readonly empty: () => T,
    private readonly isBlank: (d: T) => boolean,
  ) {}

  /** The saved draft, or an empty one; fields missing from an old save get defaults. */
  load(id: string): T {
    const raw = this.safe(() => this.storage?.getItem(draftKey(this.kind, id)) ?? null);
    if (!raw) return this.empty();
    try {
      const parsed: unknown = JSON.parse(raw);
      if (!parsed || typeof parsed !== 'object') return this.empty();
      const base = this.empty() as Record<string, unknown>;
      for (const [k, v] of Object.entries(parsed)) {
        if (k in base && typeof v === typeof base[k]) base[k] = v;
      }
      return base as T;
    } catch {
      return this.empty();
    }
  }

  has(id: string): boolean {
    return !this.isBlank(this.load(id));
  }

  /** Saves `draft`; a blank draft removes the saved one. */
  save(id: string, draft: T): void {
    const key = draftKey(this.kind, id);
    if (this.isBlank(draft)) this.safe(() => this.storage?.removeItem(key));
    else this.safe(() => this.storage?.setItem(key, JSON.stringify(draft)));
  }

  clear(id: string): void {
    this.safe(() => this.storage?.removeItem(draftKey(this.kind, id)));
  }

  // Storage can throw (quota, privacy mode); a draft that cannot be saved
  // is still on screen, so failing quietly loses nothing visible.
  private safe<R>(f: () => R): R | null {
    try {
      return f();
    } catch {
      return null;
    }
  }
}

export function answerDrafts(storage: KeyValueStore | null): Drafts<AnswerDraft> {
  return new Drafts(storage, 'request', emptyAnswerDraft, isBlankDraft);
}

export interface EntryDraft {
  question: string;
  answer: string;
  topic: string;
}

export const emptyEntryDraft = (): EntryDraft => ({ question: '', answer: '', topic: '' });

export function entryDrafts(storage: KeyValueStore | null): Drafts<EntryDraft> {
  return new Drafts(storage, 'kb', emptyEntryDraft, (d) => !d.question.trim() && !d.answer.trim() && !d.topic.trim());
}

/** `localStorage` when the page may use it, else nothing. */
export function browserStorage(): KeyValueStore | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null;
  } catch {
    return null;
  }
}

/**
 * Adds a suggestion's answer to what is typed: replaces a blank box,
 * otherwise appends it as a new paragraph.
 */
export function insertSuggestion(current: string, suggestion: string): string {
  if (!current.trim()) return suggestion;
  return `${current.replace(/\s+$/, '')}\n\n${suggestion}`;
}
