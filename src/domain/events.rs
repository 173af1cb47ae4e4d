//! The event catalogue of DESIGN §5 and `types` pattern matching (`lead.*`).

/// Every event type crmflow emits.
pub const EVENT_TYPES: &[&str] = &[
    "lead.created",
    "lead.updated",
    "lead.deleted",
    "lead.assigned",
    "lead.accepted",
    "lead.reassigned",
    "lead.escalated",
    "lead.first_touch_overdue",
    "lead.needs_info",
    "lead.qualified",
    "lead.converted",
    "lead.disqualified",
    "lead.duplicate_suspected",
    "lead.merged",
    "activity.created",
    "activity.priority_flagged",
    "account.created",
    "account.updated",
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "opportunity.created",
    "opportunity.stage_changed",
    "opportunity.stage_regressed",
    "opportunity.stalled",
    "opportunity.won",
    "opportunity.lost",
    "opportunity.updated",
    "opportunity.deleted",
    "quote.created",
    "quote.submitted",
    "quote.approved",
    "quote.rejected",
    "quote.sent",
    "quote.viewed",
    "contract.created",
    "contract.updated",
    "contract.submitted",
    "contract.review_recorded",
    "contract.approved",
    "contract.rejected",
    "contract.signed",
    "contract.installments_set",
    "contract.success_plan_set",
    "contract.completed",
    "contract.terminated",
    "invoice.requested",
    "delivery.created",
    "delivery.confirmed",
    "contract.live",
    "nps.survey_due",
    "nps.recorded",
    "payment.recorded",
    "work_order.created",
    "work_order.status_changed",
    "work_order.deleted",
    "work_order.sla_warning",
    "work_order.sla_breached",
    "config.changed",
    "report.lead_health_daily",
    "account.renewal_signal",
    "asset.created",
    "asset.updated",
    "user.created",
    "user.updated",
    "team.created",
    "team.updated",
    "webhook.disabled",
    "webhook.test",
];

/// A `types` filter: exact names or `prefix.*` patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeFilter {
    patterns: Vec<String>,
}

impl TypeFilter {
    /// Parses a comma-separated list; every entry must name or match a known type.
    pub fn parse(raw: &str) -> Result<TypeFilter, String> {
        let patterns: Vec<String> = raw
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        for p in &patterns {
            if !EVENT_TYPES.iter().any(|t| pattern_matches(p, t)) {
                return Err(format!("`{p}` matches no event type"));
            }
        }
        Ok(TypeFilter { patterns })
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| pattern_matches(p, event_type))
    }

    /// The exact types this filter admits (to push the filter into SQL as an `IN` list).
    pub fn expand(&self) -> Vec<&'static str> {
        EVENT_TYPES
            .iter()
            .copied()
            .filter(|t| self.matches(t))
            .collect()
    }
}

/// `*` matches all, `lead.*` every `lead.` type, anything else itself.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_matches_its_family_only() {
        assert!(pattern_matches("lead.*", "lead.assigned"));
        assert!(!pattern_matches("lead.*", "opportunity.won"));
        assert!(pattern_matches("contract.signed", "contract.signed"));
    }

    #[test]
    fn unknown_types_are_refused() {
        assert!(TypeFilter::parse("lead.*,contract.signed").is_ok());
        assert!(TypeFilter::parse("lead.exploded").is_err());
        assert!(TypeFilter::parse("nothing.*").is_err());
    }

    #[test]
    fn expand_lists_the_matching_types() {
        let f = TypeFilter::parse("quote.*").unwrap();
        assert_eq!(
            f.expand(),
            vec![
                "quote.created",
                "quote.submitted",
                "quote.approved",
                "quote.rejected",
                "quote.sent",
                "quote.viewed"
            ]
        );
    }
}
