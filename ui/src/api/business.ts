// The business profile route by name, over the API client (same token,
// `ApiError`s and 401 handling).
import type { ApiClient } from './client';
import type { components } from './schema';
import type { BusinessProfile } from './types';

type S = components['schemas'];

export const BUSINESS_PATH = '/api/settings/business';

export class BusinessApi {
  constructor(private readonly client: ApiClient) {}

  /** The saved profile; empty fields (no name) on a new install. 404 from servers older than the route. */
  async get(): Promise<BusinessProfile> {
    return this.client.get(BUSINESS_PATH);
  }

  /** Replaces the whole profile; the validated profile back, or 422 `"<field>: <problem>"`. */
  async update(profile: BusinessProfile): Promise<BusinessProfile> {
    // Absent fields are defaulted by the server (its schema lists them all).
    return this.client.put(BUSINESS_PATH, { body: profile as S['BusinessProfile'] });
  }
}
