import { describe, expect, it } from 'vitest';
import { focusKind, resolveKey, SHORTCUTS, type KeyContext } from '../src/lib/keys';

const ctx = (over: Partial<KeyContext> = {}): KeyContext => ({
  focus: 'none',
  screen: 'queue',
  helpOpen: false,
  answering: false,
  ...over,
});
const key = (k: string, mods: { ctrlKey?: boolean; metaKey?: boolean; altKey?: boolean } = {}) => ({ key: k, ...mods });

describe('resolveKey', () => {
  it('maps j/k/Enter in the queue and the knowledge base', () => {
    expect(resolveKey(key('j'), ctx()).action).toBe('next');
    expect(resolveKey(key('k'), ctx()).action).toBe('prev');
    expect(resolveKey(key('Enter'), ctx()).action).toBe('open');
    expect(resolveKey(key('j'), ctx({ screen: 'knowledge' })).action).toBe('next');
  });

  it('never fires j/k (or any letter) while typing in a text field', () => {
    for (const k of ['j', 'k', 'r', '/', '?', 'g', '1', 'Enter']) {
      expect(resolveKey(key(k), ctx({ focus: 'text' })).action).toBeNull();
    }
    expect(resolveKey(key('j'), ctx({ focus: 'text', screen: 'knowledge' })).action).toBeNull();
  });

  it('still sends with Ctrl+Enter (or Cmd+Enter) from a text field', () => {
    expect(resolveKey(key('Enter', { ctrlKey: true }), ctx({ focus: 'text', screen: 'request' })).action).toBe('send');
    expect(resolveKey(key('Enter', { metaKey: true }), ctx({ focus: 'text' })).action).toBe('send');
  });

  it('Esc leaves a text field first, then goes back; it closes the help first of all', () => {
    expect(resolveKey(key('Escape'), ctx({ focus: 'text' })).action).toBe('blur');
    expect(resolveKey(key('Escape'), ctx({ screen: 'request' })).action).toBe('back');
    expect(resolveKey(key('Escape'), ctx({ helpOpen: true, focus: 'text' })).action).toBe('close-help');
  });

  it('leaves Enter alone on buttons and links', () => {
    expect(resolveKey(key('Enter'), ctx({ focus: 'control' })).action).toBeNull();
    // but j/k still work from a focused row or button
    expect(resolveKey(key('j'), ctx({ focus: 'control' })).action).toBe('next');
  });

  it('r focuses the answer only while a pending request is open', () => {
    expect(resolveKey(key('r'), ctx({ screen: 'request', answering: true })).action).toBe('focus-answer');
    expect(resolveKey(key('r'), ctx({ screen: 'request' })).action).toBeNull();
  });

  it('digits pick suggestions while answering, tabs otherwise', () => {
    const answering = ctx({ screen: 'request', answering: true });
    expect(resolveKey(key('1'), answering).action).toBe('suggest-1');
    expect(resolveKey(key('5'), answering).action).toBe('suggest-5');
    expect(resolveKey(key('2'), ctx()).action).toBe('tab-resolved');
    expect(resolveKey(key('3'), ctx({ screen: 'request' })).action).toBe('tab-unresolved');
    expect(resolveKey(key('4'), ctx()).action).toBeNull();
    expect(resolveKey(key('1'), ctx({ screen: 'knowledge' })).action).toBeNull();
  });

  it('/ searches and ? toggles help', () => {
    expect(resolveKey(key('/'), ctx()).action).toBe('search');
    expect(resolveKey(key('?'), ctx()).action).toBe('help');
  });

  it('g then q/k/s navigates; the prefix is returned to the caller', () => {
    const first = resolveKey(key('g'), ctx());
    expect(first).toEqual({ action: null, prefix: 'g' });
    expect(resolveKey(key('k'), ctx(), first.prefix).action).toBe('go-knowledge');
    expect(resolveKey(key('q'), ctx(), 'g').action).toBe('go-queue');
    expect(resolveKey(key('s'), ctx(), 'g').action).toBe('go-settings');
    expect(resolveKey(key('x'), ctx(), 'g')).toEqual({ action: null, prefix: null });
  });

  it('g then c goes to sessions; n starts a test chat only on the sessions screens', () => {
    expect(resolveKey(key('c'), ctx(), 'g').action).toBe('go-sessions');
    expect(resolveKey(key('n'), ctx({ screen: 'sessions' })).action).toBe('new-chat');
    expect(resolveKey(key('n'), ctx({ screen: 'session' })).action).toBe('new-chat');
    expect(resolveKey(key('n'), ctx()).action).toBeNull();
    expect(resolveKey(key('n'), ctx({ screen: 'session', focus: 'text' })).action).toBeNull();
  });

  it('j/k/Enter move and open in the sessions list; r focuses the chat box when one is shown', () => {
    expect(resolveKey(key('j'), ctx({ screen: 'sessions' })).action).toBe('next');
    expect(resolveKey(key('k'), ctx({ screen: 'session' })).action).toBe('prev');
    expect(resolveKey(key('Enter'), ctx({ screen: 'sessions' })).action).toBe('open');
    expect(resolveKey(key('r'), ctx({ screen: 'session', answering: true })).action).toBe('focus-answer');
    expect(resolveKey(key('Escape'), ctx({ screen: 'session' })).action).toBe('back');
  });

  it('g then o goes to onboarding; j/k/Enter move and open its crawl jobs', () => {
    expect(resolveKey(key('o'), ctx(), 'g').action).toBe('go-onboarding');
    expect(resolveKey(key('o'), ctx({ screen: 'onboarding' }), 'g').action).toBe('go-onboarding');
    expect(resolveKey(key('o'), ctx()).action).toBeNull();
    expect(resolveKey(key('j'), ctx({ screen: 'onboarding' })).action).toBe('next');
    expect(resolveKey(key('k'), ctx({ screen: 'onboarding' })).action).toBe('prev');
    expect(resolveKey(key('Enter'), ctx({ screen: 'onboarding' })).action).toBe('open');
    // Typing an address or a pattern never moves the list.
    expect(resolveKey(key('j'), ctx({ screen: 'onboarding', focus: 'text' })).action).toBeNull();
    expect(resolveKey(key('Escape'), ctx({ screen: 'onboarding' })).action).toBe('back');
    const o = SHORTCUTS.find((s) => s.keys.join(' ') === 'g o');
    expect(o?.what).toMatch(/onboarding/i);
  });

  it('g i goes to interviews, whose list moves with j/k', () => {
    expect(resolveKey(key('i'), ctx(), 'g').action).toBe('go-interviews');
    expect(resolveKey(key('j'), ctx({ screen: 'interviews' })).action).toBe('next');
    expect(resolveKey(key('Enter'), ctx({ screen: 'interview' })).action).toBe('open');
    expect(SHORTCUTS.find((s) => s.keys.join(' ') === 'g i')?.what).toMatch(/interviews/i);
  });

  it('every shortcut listed under ? has a unique description', () => {
    const whats = SHORTCUTS.map((s) => s.what);
    expect(new Set(whats).size).toBe(whats.length);
    expect(whats.some((w) => /sessions/i.test(w))).toBe(true);
  });

  it('does not take browser shortcuts (Ctrl/Alt with letters)', () => {
    expect(resolveKey(key('k', { ctrlKey: true }), ctx()).action).toBeNull();
    expect(resolveKey(key('j', { altKey: true }), ctx()).action).toBeNull();
  });

  it('j/k do nothing on the settings screen', () => {
    expect(resolveKey(key('j'), ctx({ screen: 'settings' })).action).toBeNull();
  });
});

describe('focusKind', () => {
  const el = (tagName: string, extra: Record<string, unknown> = {}) =>
    ({ tagName, getAttribute: () => null, isContentEditable: false, ...extra }) as unknown as Element;

  it('treats text inputs, textareas, selects and contenteditable as typing', () => {
    expect(focusKind(el('INPUT', { type: 'text' }))).toBe('text');
    expect(focusKind(el('INPUT', { type: 'search' }))).toBe('text');
    expect(focusKind(el('TEXTAREA'))).toBe('text');
    expect(focusKind(el('SELECT'))).toBe('text');
    expect(focusKind(el('DIV', { isContentEditable: true }))).toBe('text');
  });

  it('treats buttons, links and checkboxes as controls', () => {
    expect(focusKind(el('BUTTON'))).toBe('control');
    expect(focusKind(el('A'))).toBe('control');
    expect(focusKind(el('INPUT', { type: 'checkbox' }))).toBe('control');
  });

  it('is none for nothing or a plain element', () => {
    expect(focusKind(null)).toBe('none');
    expect(focusKind(el('ARTICLE'))).toBe('none');
  });
});
