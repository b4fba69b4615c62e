//! What the customer is told. Kept short: it often ends up as an SMS.

use switchboard_core::help::HelpRequest;

/// Follow-up texts carry the supervisor's answer and fixed words only: the
/// caller's name and question are the caller's own (possibly the model's)
/// text, and a follow-up must not relay a message of a caller's making to
/// whatever number they gave.
pub fn answered(_r: &HelpRequest, answer: &str) -> String {
    format!("Thanks for waiting. {answer}")
}

pub fn unresolved(_r: &HelpRequest) -> String {
    "We're sorry we couldn't answer your question yet. Someone from our team will contact you directly.".to_string()
}
