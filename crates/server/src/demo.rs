//! `--demo`: seeds the fictional Juniper & Fern Hair Studio. Idempotent: each
//! part is seeded only while its table is empty.

use serde::Deserialize;
use switchboard_business::{DemoBusiness, seed_demo};
use switchboard_core::business::BusinessStore;
use switchboard_core::help::{HistoryTurn, NewHelpRequest};
use switchboard_core::knowledge::{KnowledgeInput, KnowledgeSource};
use switchboard_core::profile::BusinessProfile;
use switchboard_escalation::Escalation;
use switchboard_knowledge::KnowledgeBase;

use crate::app::StartError;

const KNOWLEDGE: &str = include_str!("../../../assets/demo/knowledge.json");
const HELP_REQUESTS: &str = include_str!("../../../assets/demo/help-requests.json");
const PROFILE: &str = include_str!("../../../assets/demo/profile.json");

/// The demo business's profile, validated like one typed in the settings screen.
pub fn profile() -> Result<BusinessProfile, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str::<BusinessProfile>(PROFILE)?.validate()?)
}

#[derive(Deserialize)]
struct SeedRequest {
    customer_name: String,
    channel: String,
    question: String,
    customer_contact: String,
    history: Vec<HistoryTurn>,
}

pub async fn seed(kb: &KnowledgeBase, escalation: &Escalation, business: &dyn BusinessStore) -> Result<(), StartError> {
    let demo = |e: &dyn std::fmt::Display| StartError::Demo(e.to_string());
    if kb.list(1, 0).await?.is_empty() {
        let entries: Vec<KnowledgeInput> = serde_json::from_str(KNOWLEDGE).map_err(|e| demo(&e))?;
        for e in &entries {
            kb.create(e, KnowledgeSource::Seed).await?;
        }
        tracing::info!(entries = entries.len(), "demo knowledge seeded");
    }
    if escalation.count(None).await.map_err(|e| demo(&e))? == 0 {
        let requests: Vec<SeedRequest> = serde_json::from_str(HELP_REQUESTS).map_err(|e| demo(&e))?;
        for r in requests {
            let input = NewHelpRequest {
                customer_name: r.customer_name,
                channel: r.channel,
                question: r.question,
                customer_contact: Some(r.customer_contact),
                session_id: None,
                history: r.history,
                ..Default::default()
            };
            escalation.create(&input).await.map_err(|e| demo(&e))?;
        }
        tracing::info!("demo help requests seeded");
    }
    // Customers, services, appointments, orders, returns: seeded once, with
    // times relative to now (the store skips tables that already have rows).
    let report = seed_demo(business, DemoBusiness::embedded()).await.map_err(|e| demo(&e))?;
    tracing::info!(inserted = report.inserted, "demo business tables ready");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_files_are_valid() {
        let k: Vec<KnowledgeInput> = serde_json::from_str(KNOWLEDGE).unwrap();
        assert!(k.len() >= 12);
        assert!(k.iter().all(|e| e.validate().is_ok()));
        let r: Vec<SeedRequest> = serde_json::from_str(HELP_REQUESTS).unwrap();
        assert!(!r.is_empty());
        assert_eq!(profile().unwrap().hours.len(), 7);
    }
}
