import { describe, expect, it } from 'vitest';
import { minutesToSecs, secsToMinutes, validateSettingsForm } from '../src/lib/settings';

describe('settings form', () => {
  it('converts between seconds and minutes', () => {
    expect(secsToMinutes(900)).toBe('15');
    expect(secsToMinutes(150)).toBe('2.5');
    expect(secsToMinutes(10)).toBe('0.17');
    expect(minutesToSecs('15')).toBe(900);
    expect(minutesToSecs(' 2,5 ')).toBe(150);
    expect(minutesToSecs('abc')).toBeNaN();
    expect(minutesToSecs('-3')).toBeNaN();
  });

  it('checks the timeout and the webhook URL before sending', () => {
    expect(validateSettingsForm('15', '')).toEqual({});
    expect(validateSettingsForm('15', 'https://sms.example/send')).toEqual({});
    expect(validateSettingsForm('', '').timeout).toBeDefined();
    expect(validateSettingsForm('ten', '').timeout).toBeDefined();
    expect(validateSettingsForm('0', '').timeout).toMatch(/at least/);
    expect(validateSettingsForm('20000', '').timeout).toMatch(/at most/);
    expect(validateSettingsForm('15', 'ftp://x').webhook).toBeDefined();
    expect(validateSettingsForm('15', 'sms.example').webhook).toBeDefined();
  });
});
