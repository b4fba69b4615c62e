import { describe, expect, it } from 'vitest';
import {
  answerDrafts,
  draftKey,
  emptyAnswerDraft,
  entryDrafts,
  insertSuggestion,
  type KeyValueStore,
} from '../src/lib/drafts';

function memory(): KeyValueStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

describe('answer drafts', () => {
  it('save and restore per request id', () => {
    const s = memory();
    const drafts = answerDrafts(s);
    drafts.save('r1', { answer: 'We open at 9', topic: 'hours', notes: '', cantAnswer: false });
    drafts.save('r2', { answer: '', topic: '', notes: 'no idea', cantAnswer: true });
    expect(drafts.load('r1')).toEqual({ answer: 'We open at 9', topic: 'hours', notes: '', cantAnswer: false });
    expect(drafts.load('r2').cantAnswer).toBe(true);
    // a new instance (a reload) sees the same drafts
    expect(answerDrafts(s).load('r1').answer).toBe('We open at 9');
    expect(s.map.has(draftKey('request', 'r1'))).toBe(true);
  });

  it('clear removes the draft; a blank draft is not stored', () => {
    const s = memory();
    const drafts = answerDrafts(s);
    drafts.save('r1', { ...emptyAnswerDraft(), answer: 'x' });
    drafts.clear('r1');
    expect(drafts.load('r1')).toEqual(emptyAnswerDraft());
    drafts.save('r1', { ...emptyAnswerDraft(), answer: '   ' });
    expect(s.map.size).toBe(0);
    expect(drafts.has('r1')).toBe(false);
  });

  it('survives corrupt or partial storage and missing storage', () => {
    const s = memory();
    s.map.set(draftKey('request', 'bad'), '{not json');
    s.map.set(draftKey('request', 'old'), JSON.stringify({ answer: 'kept', extra: 1, topic: 5 }));
    const drafts = answerDrafts(s);
    expect(drafts.load('bad')).toEqual(emptyAnswerDraft());
    expect(drafts.load('old')).toEqual({ ...emptyAnswerDraft(), answer: 'kept' });
    const none = answerDrafts(null);
    none.save('r', { ...emptyAnswerDraft(), answer: 'x' });
    expect(none.load('r')).toEqual(emptyAnswerDraft());
  });

  it('does not throw when storage does (quota, privacy mode)', () => {
    const broken: KeyValueStore = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    const drafts = answerDrafts(broken);
    expect(() => drafts.save('r', { ...emptyAnswerDraft(), answer: 'x' })).not.toThrow();
    expect(drafts.load('r')).toEqual(emptyAnswerDraft());
    expect(() => drafts.clear('r')).not.toThrow();
  });

  it('keeps knowledge drafts apart from answer drafts', () => {
    const s = memory();
    entryDrafts(s).save('new', { question: 'Q', answer: '', topic: '' });
    expect(answerDrafts(s).has('new')).toBe(false);
    expect(entryDrafts(s).load('new').question).toBe('Q');
  });
});

describe('insertSuggestion', () => {
  it('fills an empty box and appends to a typed one', () => {
    expect(insertSuggestion('', 'We open at 9.')).toBe('We open at 9.');
    expect(insertSuggestion('  \n', 'We open at 9.')).toBe('We open at 9.');
    expect(insertSuggestion('Hello!  \n', 'We open at 9.')).toBe('Hello!\n\nWe open at 9.');
  });
});
