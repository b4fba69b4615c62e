//! What the customer is told. Kept short: it often ends up as an SMS.

use switchboard_core::help::HelpRequest;

pub fn answered(r: &HelpRequest, answer: &str) -> String {
    format!("Hi {}, thanks for waiting. About \"{}\": {}", first_name(&r.customer_name), r.question, answer)
}

pub fn unresolved(r: &HelpRequest) -> String {
    format!(
        "Hi {}, we're sorry we couldn't answer \"{}\" yet. Someone from our team will contact you directly.",
        first_name(&r.customer_name),
        r.question
    )
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}
