//! Crawl jobs, crawled pages and page passages on SQLite.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use switchboard_core::crawl::{
    CrawlStore, CrawledPage, Job, JobCounts, JobKind, JobRecord, JobState, JobUpdate, NewJob, PagePassage, PageStatus,
};
use switchboard_core::knowledge::{IndexDoc, KnowledgeSource};
use switchboard_core::ports::StoreError;
use switchboard_core::time::{Timestamp, from_millis, to_millis};
use uuid::Uuid;

use crate::backend;
use crate::sqlite::SqliteStore;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| corrupt(e.to_string()))
}

fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<Option<T>, StoreError> {
    let v: Option<String> = row.try_get(col).map_err(backend)?;
    v.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(format!("{col}: {e}")))).transpose()
}

fn job_row(row: &SqliteRow) -> Result<JobRecord, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let kind: String = row.try_get("kind").map_err(backend)?;
    let state: String = row.try_get("state").map_err(backend)?;
    let max_pages: i64 = row.try_get("max_pages").map_err(backend)?;
    let max_depth: i64 = row.try_get("max_depth").map_err(backend)?;
    let finished: Option<i64> = row.try_get("finished_at").map_err(backend)?;
    let job = Job {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(format!("job id: {e}")))?,
        url: row.try_get("url").map_err(backend)?,
        kind: JobKind::parse(&kind).ok_or_else(|| corrupt(format!("job kind {kind}")))?,
        state: JobState::parse(&state).ok_or_else(|| corrupt(format!("job state {state}")))?,
        max_pages: u32::try_from(max_pages).map_err(|_| corrupt("max_pages"))?,
        max_depth: u32::try_from(max_depth).map_err(|_| corrupt("max_depth"))?,
        include: json_col(row, "include")?.unwrap_or_default(),
        exclude: json_col(row, "exclude")?.unwrap_or_default(),
        counts: json_col(row, "counts")?.unwrap_or_default(),
        current_url: row.try_get("current_url").map_err(backend)?,
        error: row.try_get("error").map_err(backend)?,
        changes: json_col(row, "changes")?,
        created_at: from_millis(row.try_get("created_at").map_err(backend)?),
        updated_at: from_millis(row.try_get("updated_at").map_err(backend)?),
        finished_at: finished.map(from_millis),
    };
    Ok(JobRecord { job, site: row.try_get("site").map_err(backend)?, config: row.try_get("config").map_err(backend)? })
}

fn page_row(row: &SqliteRow) -> Result<CrawledPage, StoreError> {
    let status: String = row.try_get("status").map_err(backend)?;
    let chunks: i64 = row.try_get("chunks").map_err(backend)?;
    Ok(CrawledPage {
        url: row.try_get("url").map_err(backend)?,
        title: row.try_get("title").map_err(backend)?,
        status: PageStatus::parse(&status).ok_or_else(|| corrupt(format!("page status {status}")))?,
        reason: row.try_get("reason").map_err(backend)?,
        chunks: u32::try_from(chunks).map_err(|_| corrupt("chunks"))?,
        updated_at: from_millis(row.try_get("updated_at").map_err(backend)?),
    })
}

fn passage_doc(row: &SqliteRow) -> Result<IndexDoc, StoreError> {
    Ok(IndexDoc {
        id: row.try_get("id").map_err(backend)?,
        kind: KnowledgeSource::Page,
        question: row.try_get("question").map_err(backend)?,
        answer: row.try_get("answer").map_err(backend)?,
        topic: None,
        url: Some(row.try_get("url").map_err(backend)?),
        source_request_id: None,
    })
}

#[async_trait]
impl CrawlStore for SqliteStore {
    async fn insert_job(&self, j: &NewJob) -> Result<JobRecord, StoreError> {
        let row = sqlx::query(
            "INSERT INTO crawl_jobs (id, url, site, kind, config, state, max_pages, max_depth, include, exclude,
                 counts, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(j.id.to_string())
        .bind(&j.url)
        .bind(&j.site)
        .bind(j.kind.as_str())
        .bind(&j.config)
        .bind(j.max_pages)
        .bind(j.max_depth)
        .bind(json(&j.include)?)
        .bind(json(&j.exclude)?)
        .bind(json(&JobCounts::default())?)
        .bind(to_millis(j.at))
        .bind(to_millis(j.at))
        .fetch_one(&self.writer)
        .await
        .map_err(backend)?;
        job_row(&row)
    }

    async fn get_job(&self, id: Uuid) -> Result<JobRecord, StoreError> {
        let row = sqlx::query("SELECT * FROM crawl_jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        job_row(&row)
    }

    async fn list_jobs(&self, limit: u32) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query("SELECT * FROM crawl_jobs ORDER BY created_at DESC, id DESC LIMIT ?")
            .bind(limit)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(|r| job_row(r).map(|j| j.job)).collect()
    }

    async fn update_job(&self, id: Uuid, u: &JobUpdate) -> Result<Job, StoreError> {
        let changes = u.changes.as_ref().map(json).transpose()?;
        let row = sqlx::query(
            "UPDATE crawl_jobs SET state = ?, counts = ?, current_url = ?, error = ?, changes = ?,
                 finished_at = ?, updated_at = ?
             WHERE id = ? RETURNING *",
        )
        .bind(u.state.as_str())
        .bind(json(&u.counts)?)
        .bind(&u.current_url)
        .bind(&u.error)
        .bind(changes)
        .bind(u.finished_at.map(to_millis))
        .bind(to_millis(u.at))
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(job_row(&row)?.job)
    }

    async fn interrupt_active_jobs(&self, at: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE crawl_jobs SET state = 'interrupted', current_url = NULL, updated_at = ?, finished_at = ?
             WHERE state IN ('queued', 'running')",
        )
        .bind(to_millis(at))
        .bind(to_millis(at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn site_busy(&self, site: &str) -> Result<bool, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM crawl_jobs WHERE site = ? AND state IN ('queued', 'running')")
                .bind(site)
                .fetch_one(&self.reader)
                .await
                .map_err(backend)?;
        Ok(n > 0)
    }

    async fn job_pages(&self, job: Uuid, offset: u32, limit: u32) -> Result<Vec<CrawledPage>, StoreError> {
        let rows = sqlx::query("SELECT * FROM crawl_pages WHERE job_id = ? ORDER BY url LIMIT ? OFFSET ?")
            .bind(job.to_string())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(page_row).collect()
    }

    async fn site_baseline(&self, site: &str, kept_by: Option<Uuid>) -> Result<Vec<(String, String)>, StoreError> {
        let rows = match kept_by {
            Some(job) => sqlx::query(
                "SELECT url, content_hash FROM crawl_pages
                 WHERE site = ? AND content_hash IS NOT NULL AND kept_job_id = ?",
            )
            .bind(site)
            .bind(job.to_string()),
            None => {
                sqlx::query("SELECT url, content_hash FROM crawl_pages WHERE site = ? AND content_hash IS NOT NULL")
                    .bind(site)
            }
        }
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| Ok((r.try_get("url").map_err(backend)?, r.try_get("content_hash").map_err(backend)?)))
            .collect()
    }

    async fn save_indexed_page(
        &self,
        site: &str,
        job: Uuid,
        title: &str,
        content_hash: &str,
        docs: &[IndexDoc],
        at: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let Some(url) = docs.first().and_then(|d| d.url.clone()) else {
            return Err(corrupt("an indexed page needs passages with a URL"));
        };
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let old: Vec<String> = sqlx::query_scalar("SELECT id FROM page_passages WHERE url = ?")
            .bind(&url)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM page_passages WHERE url = ?").bind(&url).execute(&mut *tx).await.map_err(backend)?;
        for d in docs {
            sqlx::query("INSERT INTO page_passages (id, url, question, answer, updated_at) VALUES (?, ?, ?, ?, ?)")
                .bind(&d.id)
                .bind(&url)
                .bind(&d.question)
                .bind(&d.answer)
                .bind(to_millis(at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        sqlx::query(
            "INSERT INTO crawl_pages (site, url, title, content_hash, status, reason, chunks, job_id, kept_job_id, updated_at)
             VALUES (?, ?, ?, ?, 'indexed', NULL, ?, ?, ?, ?)
             ON CONFLICT (site, url) DO UPDATE SET title = excluded.title, content_hash = excluded.content_hash,
                 status = 'indexed', reason = NULL, chunks = excluded.chunks, job_id = excluded.job_id,
                 kept_job_id = excluded.kept_job_id, updated_at = excluded.updated_at",
        )
        .bind(site)
        .bind(&url)
        .bind(title)
        .bind(content_hash)
        .bind(docs.len() as i64)
        .bind(job.to_string())
        .bind(job.to_string())
        .bind(to_millis(at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(old.into_iter().filter(|id| !docs.iter().any(|d| &d.id == id)).collect())
    }

    async fn save_unchanged_page(&self, site: &str, job: Uuid, url: &str, at: Timestamp) -> Result<(), StoreError> {
        // A page this very job indexed (before an interruption) stays `indexed`.
        sqlx::query(
            "UPDATE crawl_pages SET
                 status = CASE WHEN kept_job_id = ?2 AND status = 'indexed' THEN 'indexed' ELSE 'unchanged' END,
                 reason = NULL, job_id = ?2, kept_job_id = ?2, updated_at = ?3
             WHERE site = ?1 AND url = ?4",
        )
        .bind(site)
        .bind(job.to_string())
        .bind(to_millis(at))
        .bind(url)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn save_skipped_page(
        &self,
        site: &str,
        job: Uuid,
        url: &str,
        status: PageStatus,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO crawl_pages (site, url, status, reason, chunks, job_id, updated_at)
             VALUES (?, ?, ?, ?, 0, ?, ?)
             ON CONFLICT (site, url) DO UPDATE SET status = excluded.status, reason = excluded.reason,
                 job_id = excluded.job_id, updated_at = excluded.updated_at",
        )
        .bind(site)
        .bind(url)
        .bind(status.as_str())
        .bind(reason)
        .bind(job.to_string())
        .bind(to_millis(at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn remove_page(&self, site: &str, job: Uuid, url: &str, at: Timestamp) -> Result<Vec<String>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let ids: Vec<String> = sqlx::query_scalar("DELETE FROM page_passages WHERE url = ? RETURNING id")
            .bind(url)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO crawl_pages (site, url, status, reason, chunks, job_id, updated_at)
             VALUES (?1, ?2, 'removed', COALESCE((SELECT reason FROM crawl_pages WHERE site = ?1 AND url = ?2), 'gone'),
                     0, ?3, ?4)
             ON CONFLICT (site, url) DO UPDATE SET status = 'removed', content_hash = NULL, chunks = 0,
                 reason = COALESCE(crawl_pages.reason, 'gone'), job_id = excluded.job_id,
                 updated_at = excluded.updated_at",
        )
        .bind(site)
        .bind(url)
        .bind(job.to_string())
        .bind(to_millis(at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(ids)
    }

    async fn all_page_docs(&self) -> Result<Vec<IndexDoc>, StoreError> {
        let rows = sqlx::query("SELECT * FROM page_passages ORDER BY url, id")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(passage_doc).collect()
    }

    async fn count_page_docs(&self) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM page_passages").fetch_one(&self.reader).await.map_err(backend)?;
        Ok(n as u64)
    }

    async fn get_page_passage(&self, id: &str) -> Result<Option<PagePassage>, StoreError> {
        let row = sqlx::query("SELECT * FROM page_passages WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|r| {
            Ok(PagePassage {
                doc: passage_doc(&r)?,
                updated_at: from_millis(r.try_get("updated_at").map_err(backend)?),
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::time::now;

    use super::*;

    fn doc(url: &str, i: usize, text: &str) -> IndexDoc {
        IndexDoc {
            id: format!("page:{url}:{i}"),
            kind: KnowledgeSource::Page,
            question: "Title".into(),
            answer: text.into(),
            topic: None,
            url: Some(url.into()),
            source_request_id: None,
        }
    }

    #[test]
    fn passages_are_replaced_and_removed_with_their_page() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap();
            let new = NewJob {
                id: Uuid::now_v7(),
                url: "http://site.test/".into(),
                site: "http://site.test".into(),
                kind: JobKind::Onboard,
                max_pages: 50,
                max_depth: 3,
                include: vec![],
                exclude: vec!["/admin/**".into()],
                config: "{}".into(),
                at: now(),
            };
            let rec = store.insert_job(&new).await.unwrap();
            assert_eq!(rec.job.state, JobState::Queued);
            assert_eq!(rec.job.exclude, vec!["/admin/**".to_string()]);
            assert_eq!(store.get_job(new.id).await.unwrap().job, rec.job);
            let (site, job, url) = (new.site.as_str(), new.id, "http://site.test/a");

            let three = [doc(url, 0, "one"), doc(url, 1, "two"), doc(url, 2, "three")];
            assert!(store.save_indexed_page(site, job, "A", "h1", &three, now()).await.unwrap().is_empty());
            assert_eq!(store.count_page_docs().await.unwrap(), 3);
            // A changed page with fewer passages drops the extra old ones.
            let gone = store.save_indexed_page(site, job, "A", "h2", &three[..1], now()).await.unwrap();
            assert_eq!(gone, vec![three[1].id.clone(), three[2].id.clone()]);
            assert_eq!(store.all_page_docs().await.unwrap(), vec![three[0].clone()]);
            assert_eq!(store.site_baseline(site, Some(job)).await.unwrap(), vec![(url.to_string(), "h2".to_string())]);
            // A skip keeps the passages; a removal deletes them.
            store.save_skipped_page(site, job, url, PageStatus::Error, "timeout", now()).await.unwrap();
            assert_eq!(store.count_page_docs().await.unwrap(), 1);
            assert_eq!(store.remove_page(site, job, url, now()).await.unwrap(), vec![three[0].id.clone()]);
            assert_eq!(store.count_page_docs().await.unwrap(), 0);
            assert!(store.site_baseline(site, None).await.unwrap().is_empty());
            let pages = store.job_pages(job, 0, 10_000).await.unwrap();
            assert_eq!(pages.len(), 1);
            assert_eq!((pages[0].status, pages[0].chunks), (PageStatus::Removed, 0));

            assert!(store.site_busy(site).await.unwrap());
            assert_eq!(store.interrupt_active_jobs(now()).await.unwrap(), 1);
            assert_eq!(store.get_job(job).await.unwrap().job.state, JobState::Interrupted);
            assert!(!store.site_busy(site).await.unwrap());
            store.close().await;
        });
    }
}
