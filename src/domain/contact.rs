//! Decision-chain roles of contacts (DESIGN §1.5).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The part a contact plays in the customer's buying decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionRole {
    DecisionMaker,
    Influencer,
    TechnicalEvaluator,
    User,
    Procurement,
    Finance,
    Gatekeeper,
}

impl DecisionRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionRole::DecisionMaker => "decision_maker",
            DecisionRole::Influencer => "influencer",
            DecisionRole::TechnicalEvaluator => "technical_evaluator",
            DecisionRole::User => "user",
            DecisionRole::Procurement => "procurement",
            DecisionRole::Finance => "finance",
            DecisionRole::Gatekeeper => "gatekeeper",
        }
    }
}
