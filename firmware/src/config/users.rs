//! Accounts shared by RTSP, HTTP and ONVIF.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Problems;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[serde(alias = "administrator")]
    Admin,
    Operator,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::User => "user",
        }
    }
}

#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password: String,
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::User
}

// Hand-written so that a stray `{:?}` can never print a password into the log.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

pub(crate) fn check(users: &[User], p: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, user) in users.iter().enumerate() {
        let name = user.name.as_str();
        if name.is_empty() || name.len() > 64 {
            p.add(format!("users[{i}].name"), "must be 1 to 64 characters");
        } else if name
            .chars()
            .any(|c| c == ':' || c.is_control() || c.is_whitespace() || c == '"')
        {
            p.add(
                format!("users[{i}].name"),
                "must not contain ':', '\"', spaces or control characters",
            );
        } else if !seen.insert(name) {
            p.add(
                format!("users[{i}].name"),
                format!("user \"{name}\" is listed twice"),
            );
        }
        if user.password.is_empty() {
            p.add(format!("users[{i}].password"), "must not be empty");
        } else if user.password.chars().any(char::is_control) {
            p.add(
                format!("users[{i}].password"),
                "must not contain control characters",
            );
        }
    }
}
