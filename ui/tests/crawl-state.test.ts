import { describe, expect, it } from 'vitest';
import type { AppEvent, Job } from '../src/api/types';
import { applyEvent, emptyData, jobsOrdered, replaceJobs, upsertJob } from '../src/lib/state';
import { job, later } from './fixtures';

let seq = 100;
const crawlEv = (type: 'crawl.progress' | 'crawl.finished', j: Job, s = ++seq) =>
  ({ type, job: j, seq: s, at: new Date().toISOString() }) as AppEvent;

describe('crawl events', () => {
  it('progress adds and updates a job; finished ends it', () => {
    const d = emptyData();
    const a = job({ state: 'queued' });
    expect(applyEvent(d, crawlEv('crawl.progress', a))).toBe('applied');
    expect(d.jobs[a.id].state).toBe('queued');
    const running = later(a, { state: 'running', counts: { ...a.counts, discovered: 4, indexed: 1 }, current_url: 'https://example.com/a' });
    expect(applyEvent(d, crawlEv('crawl.progress', running))).toBe('applied');
    expect(d.jobs[a.id].counts.discovered).toBe(4);
    expect(d.jobs[a.id].current_url).toBe('https://example.com/a');
    const done = later(running, { state: 'done', current_url: null, finished_at: running.updated_at });
    expect(applyEvent(d, crawlEv('crawl.finished', done))).toBe('applied');
    expect(d.jobs[a.id].state).toBe('done');
    expect(d.lastSeq).toBe(seq);
  });

  it('ignores a repeated event and one that arrives after a later one', () => {
    const d = emptyData();
    const a = job();
    const first = crawlEv('crawl.progress', { ...a, counts: { ...a.counts, discovered: 1 } });
    const second = crawlEv('crawl.progress', { ...a, counts: { ...a.counts, discovered: 2 } });
    expect(applyEvent(d, second)).toBe('applied');
    expect(applyEvent(d, first)).toBe('ignored');
    expect(applyEvent(d, second)).toBe('ignored');
    expect(d.jobs[a.id].counts.discovered).toBe(2);
  });

  it('a late progress event does not undo a finish', () => {
    const d = emptyData();
    const a = job();
    const progress = later(a, { counts: { ...a.counts, discovered: 3 } });
    const done = later(progress, { state: 'done' });
    expect(applyEvent(d, crawlEv('crawl.finished', done, 500))).toBe('applied');
    expect(applyEvent(d, crawlEv('crawl.progress', progress, 499))).toBe('ignored');
    // Even with a higher seq (a server restart resets seqs), the older copy loses.
    expect(applyEvent(d, crawlEv('crawl.progress', progress, 501))).toBe('ignored');
    expect(d.jobs[a.id].state).toBe('done');
  });

  it('ignores a crawl event without a job', () => {
    const d = emptyData();
    expect(applyEvent(d, { type: 'crawl.progress', seq: 1 } as unknown as AppEvent)).toBe('ignored');
    expect(Object.keys(d.jobs)).toEqual([]);
  });

  it('lists jobs newest first', () => {
    const d = emptyData();
    const older = job({ created_at: '2026-01-01T10:00:00Z', updated_at: '2026-01-01T10:00:00Z' });
    const newer = job({ created_at: '2026-01-02T10:00:00Z', updated_at: '2026-01-02T10:00:00Z' });
    applyEvent(d, crawlEv('crawl.progress', older));
    applyEvent(d, crawlEv('crawl.progress', newer));
    expect(jobsOrdered(d).map((j) => j.id)).toEqual([newer.id, older.id]);
  });

  it('a response copy (no seq) updates the job unless an event already brought a later one', () => {
    const d = emptyData();
    const a = job();
    const cancelled = later(a, { state: 'cancelled' }, 2);
    applyEvent(d, crawlEv('crawl.finished', cancelled));
    expect(upsertJob(d, later(a, { state: 'running' }, 1))).toBe(false);
    expect(d.jobs[a.id].state).toBe('cancelled');
    const resumed = later(cancelled, { state: 'queued' });
    expect(upsertJob(d, resumed)).toBe(true);
    expect(d.jobs[a.id].state).toBe('queued');
  });

  it('a refetch keeps what events changed after it started, when newer', () => {
    const d = emptyData();
    const a = job();
    const b = job();
    const since = d.tick;
    const bDone = later(b, { state: 'done' }, 5);
    applyEvent(d, crawlEv('crawl.finished', bDone));
    const c = job();
    applyEvent(d, crawlEv('crawl.progress', c)); // started after the snapshot
    replaceJobs(d, [a, b], since);
    expect(d.jobs[a.id]).toEqual(a);
    expect(d.jobs[b.id].state).toBe('done');
    expect(d.jobs[c.id]).toEqual(c);
    // Jobs not touched since are replaced by the fetched list.
    replaceJobs(d, [later(a, { state: 'done' })], d.tick);
    expect(Object.keys(d.jobs)).toEqual([a.id]);
    expect(d.jobs[a.id].state).toBe('done');
  });
});
