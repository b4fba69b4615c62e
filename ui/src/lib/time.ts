// Relative, live time: ages ("2 min ago"), deadlines ("due in 4:12") and
// how urgent a deadline is. Every function takes `now` so it can be tested.

/** The last this many seconds before a deadline are urgent. */
export const URGENT_SECS = 120;

export type Urgency = 'ok' | 'urgent' | 'overdue';

export function toMs(t: string | number | Date): number {
  if (typeof t === 'number') return t;
  if (t instanceof Date) return t.getTime();
  return Date.parse(t);
}

/** "just now", "1 min ago", "3 h ago", "2 days ago"; the future reads "in 5 min". */
export function relativeAge(t: string | number | Date, now: number): string {
  const diff = Math.round((now - toMs(t)) / 1000);
  const future = diff < 0;
  const s = Math.abs(diff);
  let text: string;
  if (s < 45) return 'just now';
  if (s < 3600) text = `${Math.max(1, Math.round(s / 60))} min`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h`;
  else {
    const d = Math.floor(s / 86400);
    text = d === 1 ? '1 day' : `${d} days`;
  }
  return future ? `in ${text}` : `${text} ago`;
}

/** `m:ss` under an hour, `h:mm:ss` above; seconds are whole and non-negative. */
export function clock(totalSecs: number): string {
  const s = Math.max(0, Math.floor(totalSecs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Seconds left until `deadline` (negative when past), rounded up. */
export function secondsLeft(deadline: string | number | Date, now: number): number {
  return Math.ceil((toMs(deadline) - now) / 1000);
}

export function urgency(deadline: string | number | Date, now: number): Urgency {
  const left = secondsLeft(deadline, now);
  if (left <= 0) return 'overdue';
  if (left <= URGENT_SECS) return 'urgent';
  return 'ok';
}

export interface Countdown {
  level: Urgency;
  /** "due in 4:12", "overdue by 0:12" (urgency is said by `label`). */
  text: string;
  /** The word for the level, shown beside the time: "", "urgent", "overdue". */
  label: string;
}

/** The live countdown to a pending request's deadline; urgency in words too. */
export function countdown(deadline: string | number | Date, now: number): Countdown {
  const left = secondsLeft(deadline, now);
  const level = urgency(deadline, now);
  if (level === 'overdue') return { level, label: 'overdue', text: left === 0 ? 'overdue' : `overdue by ${clock(-left)}` };
  return { level, label: level === 'urgent' ? 'urgent' : '', text: `due in ${clock(left)}` };
}

const exactFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** The exact local date and time, for `title` attributes. */
export function exactTime(t: string | number | Date): string {
  const ms = toMs(t);
  if (Number.isNaN(ms)) return '';
  return exactFormat.format(new Date(ms));
}
