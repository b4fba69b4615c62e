// The crawl routes: onboarding a website, its jobs and their pages. Thin
// names over the typed client (same token, `ApiError`s and 401 handling).
import type { ApiClient } from './client';
import type { CrawledPage, Job, JobStarted, OnboardInput } from './types';

export class CrawlApi {
  constructor(private readonly client: ApiClient) {}

  /** Starts onboarding a website: 202 with the queued job; 422 names the bad field. */
  onboard(input: OnboardInput): Promise<JobStarted> {
    return this.client.post('/api/onboard', { body: input });
  }

  /** Every job, newest first. */
  jobs(): Promise<Job[]> {
    return this.client.get('/api/jobs');
  }

  job(id: string): Promise<Job> {
    return this.client.get('/api/job/{id}', { path: { id } });
  }

  pages(id: string): Promise<CrawledPage[]> {
    return this.client.get('/api/job/{id}/pages', { path: { id } });
  }

  /** 409 when the job already finished. */
  cancel(id: string): Promise<Job> {
    return this.client.post('/api/job/{id}/cancel', { path: { id } });
  }

  /** 409 unless the job is interrupted, cancelled or failed. */
  resume(id: string): Promise<Job> {
    return this.client.post('/api/job/{id}/resume', { path: { id } });
  }

  /** A new job that crawls the site again; 409 while a job for the site runs. */
  recrawl(id: string): Promise<JobStarted> {
    return this.client.post('/api/job/{id}/recrawl', { path: { id } });
  }
}
