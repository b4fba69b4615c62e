import { describe, expect, it } from 'vitest';
import { clock, countdown, exactTime, relativeAge, secondsLeft, urgency, URGENT_SECS } from '../src/lib/time';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const at = (secs: number) => new Date(T0 + secs * 1000).toISOString();

describe('relativeAge', () => {
  it('says "just now" for the first 45 seconds', () => {
    expect(relativeAge(at(0), T0)).toBe('just now');
    expect(relativeAge(at(-44), T0)).toBe('just now');
  });
  it('counts minutes, hours and days', () => {
    expect(relativeAge(at(-45), T0)).toBe('1 min ago');
    expect(relativeAge(at(-120), T0)).toBe('2 min ago');
    expect(relativeAge(at(-59 * 60), T0)).toBe('59 min ago');
    expect(relativeAge(at(-3600), T0)).toBe('1 h ago');
    expect(relativeAge(at(-5 * 3600 - 1700), T0)).toBe('5 h ago');
    expect(relativeAge(at(-86400), T0)).toBe('1 day ago');
    expect(relativeAge(at(-3 * 86400), T0)).toBe('3 days ago');
  });
  it('reads the future as "in …"', () => {
    expect(relativeAge(at(600), T0)).toBe('in 10 min');
  });
  it('accepts numbers and dates', () => {
    expect(relativeAge(T0 - 120_000, T0)).toBe('2 min ago');
    expect(relativeAge(new Date(T0 - 120_000), T0)).toBe('2 min ago');
  });
});

describe('clock', () => {
  it('formats m:ss and h:mm:ss', () => {
    expect(clock(0)).toBe('0:00');
    expect(clock(5)).toBe('0:05');
    expect(clock(252)).toBe('4:12');
    expect(clock(3599)).toBe('59:59');
    expect(clock(3600)).toBe('1:00:00');
    expect(clock(3723)).toBe('1:02:03');
    expect(clock(-5)).toBe('0:00');
  });
});

describe('countdown and urgency', () => {
  it('is "due in m:ss" and not urgent with more than two minutes left', () => {
    expect(countdown(at(252), T0)).toEqual({ level: 'ok', label: '', text: 'due in 4:12' });
    expect(urgency(at(URGENT_SECS + 1), T0)).toBe('ok');
  });
  it('turns urgent in the last two minutes, and says so in words', () => {
    expect(urgency(at(URGENT_SECS), T0)).toBe('urgent');
    expect(countdown(at(90), T0)).toEqual({ level: 'urgent', label: 'urgent', text: 'due in 1:30' });
    expect(urgency(at(1), T0)).toBe('urgent');
  });
  it('is overdue at and past the deadline', () => {
    expect(countdown(at(0), T0)).toEqual({ level: 'overdue', label: 'overdue', text: 'overdue' });
    expect(countdown(at(-12), T0)).toEqual({ level: 'overdue', label: 'overdue', text: 'overdue by 0:12' });
  });
  it('rounds partial seconds up so "due in 0:00" never shows before the deadline', () => {
    expect(secondsLeft(T0 + 400, T0)).toBe(1);
    expect(countdown(T0 + 400, T0).text).toBe('due in 0:01');
  });
});

describe('exactTime', () => {
  it('formats a date with its year and seconds, and nothing for garbage', () => {
    const s = exactTime(at(0));
    expect(s).toMatch(/2026/);
    expect(s).toMatch(/\d{2}:\d{2}:\d{2}|\d{1,2}:\d{2}:\d{2}/);
    expect(exactTime('not a date')).toBe('');
  });
});
