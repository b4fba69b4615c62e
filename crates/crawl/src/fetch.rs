//! The `Fetcher` stage: one HTTP request, one hop. Redirects are *returned*,
//! not followed, so the crawler can check every hop (site, robots, loops).

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use url::Url;

use crate::SkipReason;
use crate::config::CrawlConfig;
use crate::guard::{AddressPolicy, BlockedAddress, GuardedResolver};

/// What a request is for; decides which content types are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A page: HTML or plain text only.
    Page,
    /// robots.txt or a sitemap: any text-ish body.
    Resource,
}

/// The kind of page body that was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Html,
    Text,
    /// Anything else (only for [`Purpose::Resource`]).
    Other,
}

/// One hop's answer. `body` is empty unless the status is 2xx and the content
/// type was accepted.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: Url,
    pub status: u16,
    /// The raw `Location` header of a 3xx.
    pub location: Option<String>,
    /// The raw `Retry-After` header (kept for a 429 or 503).
    pub retry_after: Option<String>,
    pub kind: ContentKind,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status) && self.location.is_some()
    }

    /// 429 Too Many Requests or 503 Service Unavailable: the server asks us
    /// to slow down; the request is worth repeating later.
    pub fn is_throttled(&self) -> bool {
        matches!(self.status, 429 | 503)
    }
}

#[async_trait]
pub trait Fetcher: Send + Sync {
    /// Fetches `url` without following redirects. Refusals and failures are
    /// the skip reason they amount to (`blocked_address`, `timeout`,
    /// `unreachable`, `not_html`, `too_large`, ...).
    async fn fetch(&self, url: &Url, purpose: Purpose) -> Result<Fetched, SkipReason>;
}

/// The reqwest fetcher: guarded DNS, no proxy (a proxy would resolve names
/// beyond the guard's reach), no automatic redirects, a total timeout and a
/// streamed, capped body.
#[derive(Debug, Clone)]
pub struct ReqwestFetcher {
    client: reqwest::Client,
    policy: AddressPolicy,
    max_body: usize,
}

impl ReqwestFetcher {
    pub fn new(config: &CrawlConfig) -> Result<Self, reqwest::Error> {
        let policy = AddressPolicy { allow_private: config.allow_private, allow: config.allow_addresses.clone() };
        let resolver = GuardedResolver::new(policy.clone(), config.resolve.clone());
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(resolver))
            .timeout(config.timeout())
            .connect_timeout(config.connect_timeout())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(ReqwestFetcher { client, policy, max_body: config.max_body_bytes })
    }
}

fn classify(content_type: Option<&str>) -> ContentKind {
    let Some(ct) = content_type else { return ContentKind::Other };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => ContentKind::Html,
        "text/plain" => ContentKind::Text,
        _ => ContentKind::Other,
    }
}

fn map_error(e: &reqwest::Error) -> SkipReason {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<BlockedAddress>().is_some() {
            return SkipReason::BlockedAddress;
        }
        source = s.source();
    }
    if e.is_timeout() { SkipReason::Timeout } else { SkipReason::Unreachable }
}

#[async_trait]
impl Fetcher for ReqwestFetcher {
    async fn fetch(&self, url: &Url, purpose: Purpose) -> Result<Fetched, SkipReason> {
        // IP literals never reach the resolver, so they are checked here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(SkipReason::InvalidUrl),
        };
        if literal.is_some_and(|ip| !self.policy.permits(ip)) {
            return Err(SkipReason::BlockedAddress);
        }
        let accept = match purpose {
            Purpose::Page => "text/html,application/xhtml+xml,text/plain;q=0.8",
            Purpose::Resource => "*/*",
        };
        let mut resp = self.client.get(url.clone()).header(ACCEPT, accept).send().await.map_err(|e| map_error(&e))?;
        let status = resp.status().as_u16();
        let header = |name| resp.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok());
        let kind = classify(header(CONTENT_TYPE));
        let location = header(LOCATION).map(str::to_owned);
        let length = header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        let retry_after = header(RETRY_AFTER).map(str::to_owned);
        let mut fetched = Fetched { url: url.clone(), status, location, retry_after, kind, body: Vec::new() };
        if !(200..300).contains(&status) {
            return Ok(fetched);
        }
        if purpose == Purpose::Page && kind == ContentKind::Other {
            return Err(SkipReason::NotHtml);
        }
        if length.is_some_and(|l| l > self.max_body as u64) {
            return Err(SkipReason::TooLarge);
        }
        // Stream, so a body without (or lying about) its length stops at the cap.
        while let Some(chunk) = resp.chunk().await.map_err(|e| map_error(&e))? {
            if fetched.body.len() + chunk.len() > self.max_body {
                return Err(SkipReason::TooLarge);
            }
            fetched.body.extend_from_slice(&chunk);
        }
        Ok(fetched)
    }
}
