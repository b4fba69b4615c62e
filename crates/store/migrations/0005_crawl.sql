-- Crawl jobs, the pages of crawled sites, and page passages. Times are unix
-- milliseconds (UTC). Page passages are the source of truth for the search
-- index's `page` documents (the index is rebuilt from them and knowledge entries).

CREATE TABLE crawl_jobs (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    site        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('onboard', 'recrawl')),
    config      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
    max_pages   INTEGER NOT NULL,
    max_depth   INTEGER NOT NULL,
    include     TEXT NOT NULL DEFAULT '[]',
    exclude     TEXT NOT NULL DEFAULT '[]',
    counts      TEXT NOT NULL DEFAULT '{}',
    current_url TEXT,
    error       TEXT,
    changes     TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX crawl_jobs_by_site ON crawl_jobs (site, state);
CREATE INDEX crawl_jobs_by_state ON crawl_jobs (state);

-- The latest outcome of every URL of a site. `content_hash` and `chunks`
-- describe the passages the page has (none after a removal); `job_id` is the
-- job that last touched the row, `kept_job_id` the one that last indexed it
-- or found it unchanged.
CREATE TABLE crawl_pages (
    site         TEXT NOT NULL,
    url          TEXT NOT NULL,
    title        TEXT,
    content_hash TEXT,
    status       TEXT NOT NULL CHECK (status IN ('indexed', 'unchanged', 'skipped', 'removed', 'error')),
    reason       TEXT,
    chunks       INTEGER NOT NULL DEFAULT 0,
    job_id       TEXT NOT NULL REFERENCES crawl_jobs (id),
    kept_job_id  TEXT REFERENCES crawl_jobs (id),
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (site, url)
);
CREATE INDEX crawl_pages_by_job ON crawl_pages (job_id);

-- One row per passage: id = page_doc_id(url, i).
CREATE TABLE page_passages (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX page_passages_by_url ON page_passages (url);
