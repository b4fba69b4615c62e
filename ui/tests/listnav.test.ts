import { describe, expect, it } from 'vitest';
import { listStatus, openable, rememberIndex, step, tabStop, type ListPosition } from '../src/lib/listnav';

const ids = ['a', 'b', 'c'];
const at = (p: Partial<ListPosition>): ListPosition => ({
  ids,
  selected: null,
  lastIndex: null,
  openId: null,
  narrow: false,
  ...p,
});

describe('tabStop', () => {
  it('is the selected row when it is listed, else the first', () => {
    expect(tabStop(ids, 'b')).toBe('b');
    expect(tabStop(ids, 'gone')).toBe('a');
    expect(tabStop(ids, null)).toBe('a');
    expect(tabStop([], 'b')).toBeNull();
  });
});

describe('rememberIndex', () => {
  it('follows the selection, and keeps its last place once it leaves the list', () => {
    expect(rememberIndex(ids, 'c', null)).toBe(2);
    expect(rememberIndex(ids, 'a', 2)).toBe(0);
    expect(rememberIndex(['a', 'c'], 'b', 1)).toBe(1);
    expect(rememberIndex(ids, null, 1)).toBe(1);
  });
});

describe('step', () => {
  it('moves the selection and stops at the ends', () => {
    expect(step(at({ selected: 'a' }), 1).select).toBe('b');
    expect(step(at({ selected: 'c' }), 1).select).toBe('c');
    expect(step(at({ selected: 'a' }), -1).select).toBe('a');
  });

  it('starts at the first row going down and the last going up', () => {
    expect(step(at({}), 1).select).toBe('a');
    expect(step(at({}), -1).select).toBe('c');
    expect(step(at({ ids: [] }), 1)).toEqual({ select: null, open: null });
  });

  it('carries on from where a selection that left the list was', () => {
    // "b" was at 1 and got answered: j lands on what took its place, k on the row above.
    const p = at({ ids: ['a', 'c'], selected: 'b', lastIndex: 1 });
    expect(step(p, 1).select).toBe('c');
    expect(step(p, -1).select).toBe('a');
  });

  it('takes an open item along in the wide layout only', () => {
    expect(step(at({ selected: 'a', openId: 'a' }), 1)).toEqual({ select: 'b', open: 'b' });
    expect(step(at({ selected: 'a', openId: 'a', narrow: true }), 1)).toEqual({ select: 'b', open: null });
    expect(step(at({ selected: 'a' }), 1)).toEqual({ select: 'b', open: null });
  });
});

describe('openable', () => {
  it('is the selection while it is listed', () => {
    expect(openable(ids, 'b')).toBe('b');
    expect(openable(ids, 'gone')).toBeNull();
    expect(openable(ids, null)).toBeNull();
  });
});

describe('listStatus', () => {
  it('loads until the first fetch answers, and says nothing is there only once it has', () => {
    expect(listStatus(false, null)).toBe('loading');
    expect(listStatus(false, 'Could not load the queue')).toBe('failed');
    expect(listStatus(true, null)).toBe('ready');
    // A later refetch failing keeps the list that loaded.
    expect(listStatus(true, 'Could not load the queue')).toBe('ready');
  });
});
