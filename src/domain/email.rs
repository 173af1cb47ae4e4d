//! E-mail addresses, trimmed and lower-cased, with the domain split out for duplicate
//! matching (public mailbox domains are not evidence of the same company).

/// Mailbox providers whose domain says nothing about the employer.
pub const PUBLIC_DOMAINS: &[&str] = &[
    "qq.com",
    "163.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "sina.com",
    "sohu.com",
    "yeah.net",
    "foxmail.com",
    "aliyun.com",
    "yahoo.com",
    "icloud.com",
    "139.com",
];

/// A normalised e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<EmailAddress, String> {
        let s = raw.trim().to_lowercase();
        if s.len() > 254 {
            return Err("an e-mail address has at most 254 characters".into());
        }
        let (local, domain) = s.split_once('@').ok_or("an e-mail address needs an `@`")?;
        let valid_domain = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty()
            || !valid_domain
            || s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
        {
            return Err("not an e-mail address".into());
        }
        if local.contains('@') {
            return Err("an e-mail address has one `@`".into());
        }
        Ok(EmailAddress(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.split_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The domain when it can identify a company (not a public mailbox).
    pub fn company_domain(&self) -> Option<&str> {
        let d = self.domain();
        (!PUBLIC_DOMAINS.contains(&d)).then_some(d)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        let e = EmailAddress::parse("  Li.Wei@HengRui-Tech.CN ").unwrap();
        assert_eq!(e.as_str(), "li.wei@hengrui-tech.cn");
        assert_eq!(e.company_domain(), Some("hengrui-tech.cn"));
    }

    #[test]
    fn a_public_mailbox_domain_is_not_a_company_domain() {
        assert_eq!(
            EmailAddress::parse("abc@qq.com").unwrap().company_domain(),
            None
        );
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@@b.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
