// Keyboard shortcuts: which action a key press means, given where focus is
// and what is on screen. Pure, so the rules can be tested without a DOM.

export type Action =
  | 'next'
  | 'prev'
  | 'open'
  | 'back'
  | 'blur'
  | 'close-help'
  | 'help'
  | 'search'
  | 'focus-answer'
  | 'send'
  | 'go-queue'
  | 'go-knowledge'
  | 'go-settings'
  | 'go-sessions'
  | 'go-onboarding'
  | 'go-interviews'
  | 'new-chat'
  | 'tab-pending'
  | 'tab-resolved'
  | 'tab-unresolved'
  | 'suggest-1'
  | 'suggest-2'
  | 'suggest-3'
  | 'suggest-4'
  | 'suggest-5';

/** Where keyboard focus is: a text field, another control (button, link, checkbox), or neither. */
export type FocusKind = 'text' | 'control' | 'none';

export type Screen =
  | 'queue'
  | 'request'
  | 'sessions'
  | 'session'
  | 'knowledge'
  | 'settings'
  | 'onboarding'
  | 'interviews'
  | 'interview'
  | 'join';

export interface KeyContext {
  focus: FocusKind;
  screen: Screen;
  /** The shortcuts overlay is open. */
  helpOpen: boolean;
  /** A pending request's answer form (digits pick suggestions) or a test chat's message box is on screen. */
  answering: boolean;
}

export interface KeyInput {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
}

export interface Resolution {
  action: Action | null;
  /** A pending prefix key (`g`), to pass to the next call. */
  prefix: string | null;
}

const NONE: Resolution = { action: null, prefix: null };
const act = (action: Action): Resolution => ({ action, prefix: null });

/** Every shortcut, for the `?` overlay. */
export const SHORTCUTS: ReadonlyArray<{ keys: string[]; what: string }> = [
  { keys: ['j', 'k'], what: 'Move down / up in the list (crawl jobs too)' },
  { keys: ['Enter'], what: 'Open the selected item' },
  { keys: ['Esc'], what: 'Leave a text field; then go back / close' },
  { keys: ['r'], what: "Focus the answer box (or the test chat's message box)" },
  { keys: ['1', '…', '5'], what: 'Insert that suggestion into the answer (while answering)' },
  { keys: ['Ctrl', 'Enter'], what: 'Send the answer' },
  { keys: ['Enter'], what: 'Send a test chat message (Shift+Enter: new line)' },
  { keys: ['n'], what: 'Start a new test chat (in sessions)' },
  { keys: ['/'], what: 'Search the knowledge base' },
  { keys: ['1', '2', '3'], what: 'Queue tabs: pending, resolved, unresolved (in the queue)' },
  { keys: ['g', 'q'], what: 'Go to the queue' },
  { keys: ['g', 'c'], what: 'Go to sessions (conversations)' },
  { keys: ['g', 'k'], what: 'Go to the knowledge base' },
  { keys: ['g', 'o'], what: 'Go to onboarding (turn your website into answers)' },
  { keys: ['g', 'i'], what: 'Go to interviews (rooms the agent transcribes)' },
  { keys: ['g', 's'], what: 'Go to settings' },
  { keys: ['?'], what: 'Show or hide these shortcuts' },
];

/**
 * Resolves one key press. Shortcuts never fire while typing in a text
 * field, except Ctrl+Enter (send) and Esc (leave the field).
 */
export function resolveKey(e: KeyInput, ctx: KeyContext, prefix: string | null = null): Resolution {
  const mod = !!(e.ctrlKey || e.metaKey);
  if (e.key === 'Enter' && mod) return act('send');
  if (e.key === 'Escape') {
    if (ctx.helpOpen) return act('close-help');
    if (ctx.focus === 'text') return act('blur');
    return act('back');
  }
  if (ctx.focus === 'text') return NONE;
  if (mod || e.altKey) return NONE;

  if (prefix === 'g') {
    if (e.key === 'q') return act('go-queue');
    if (e.key === 'k') return act('go-knowledge');
    if (e.key === 's') return act('go-settings');
    if (e.key === 'c') return act('go-sessions');
    if (e.key === 'o') return act('go-onboarding');
    if (e.key === 'i') return act('go-interviews');
    return NONE;
  }

  switch (e.key) {
    case '?':
      return act('help');
    case 'g':
      return { action: null, prefix: 'g' };
    case 'j':
      return ctx.screen === 'settings' ? NONE : act('next');
    case 'k':
      return ctx.screen === 'settings' ? NONE : act('prev');
    case 'Enter':
      // On a button or link, Enter keeps its native meaning.
      return ctx.focus === 'control' || ctx.screen === 'settings' ? NONE : act('open');
    case '/':
      return act('search');
    case 'r':
      return ctx.answering ? act('focus-answer') : NONE;
    case 'n':
      return ctx.screen === 'sessions' || ctx.screen === 'session' ? act('new-chat') : NONE;
  }
  if (/^[1-5]$/.test(e.key)) {
    const n = Number(e.key);
    if (ctx.answering) return act(`suggest-${n}` as Action);
    if ((ctx.screen === 'queue' || ctx.screen === 'request') && n <= 3) {
      return act((['tab-pending', 'tab-resolved', 'tab-unresolved'] as const)[n - 1]);
    }
  }
  return NONE;
}

/** Classifies the focused element for `KeyContext.focus`. */
export function focusKind(el: Element | null): FocusKind {
  if (!el) return 'none';
  if (typeof document !== 'undefined' && (el === document.body || el === document.documentElement)) return 'none';
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return 'text';
  if (tag === 'INPUT') {
    const type = (el as HTMLInputElement).type;
    return ['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file'].includes(type) ? 'control' : 'text';
  }
  if ((el as HTMLElement).isContentEditable) return 'text';
  if (tag === 'BUTTON' || tag === 'A' || tag === 'SUMMARY' || el.getAttribute('role') === 'button') return 'control';
  return 'none';
}
