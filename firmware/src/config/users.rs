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

/// The shortest password the camera takes where one is chosen: on the card and over ONVIF.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Passwords that shipped in examples: an owner who copies one gets a camera whose password
/// everybody who read the same example knows.
const EXAMPLE_PASSWORDS: [&str; 2] = ["change me, please", "write a long password here"];

/// The most common passwords of at least `MIN_PASSWORD_CHARS` characters, from the top of the
/// published breach lists (NCSC's top 100,000, SecLists' most common), plus the camera's own
/// name. Short and honest on purpose: it stops what a guesser tries first, it is not a
/// strength meter; length does the rest.
const COMMON_PASSWORDS: [&str; 48] = [
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "987654321",
    "87654321",
    "12341234",
    "11111111",
    "00000000",
    "88888888",
    "12121212",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "q1w2e3r4",
    "1qaz2wsx",
    "zaq12wsx",
    "1234qwer",
    "asdfghjk",
    "asdfghjkl",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "starwars",
    "trustno1",
    "letmein1",
    "welcome1",
    "abc12345",
    "abcd1234",
    "admin123",
    "admin1234",
    "administrator",
    "changeme",
    "babymonitor",
];

/// Why `password` cannot be the password of `name`, for a password being chosen now (the card,
/// ONVIF CreateUsers and SetUser); `None` when it will do. One check for every place a password
/// is set, so that the card and a client are refused the same things.
pub fn password_problem(name: &str, password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    let folded = password.trim().to_lowercase();
    if EXAMPLE_PASSWORDS.contains(&folded.as_str()) {
        return Some("is the example's password, which everyone can read: choose your own".into());
    }
    if folded == name.trim().to_lowercase() {
        return Some("must not be the user name".into());
    }
    if COMMON_PASSWORDS.contains(&folded.as_str()) {
        return Some(
            "is one of the most common passwords, the first a guesser tries: choose another".into(),
        );
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_example_passwords_are_refused_with_a_reason() {
        for (name, password, reason) in [
            ("admin", "short", "at least 8"),
            ("admin", "change me, please", "example"),
            ("admin", "Change Me, Please ", "example"),
            ("admin", "write a long password here", "example"),
            ("grandmother", "Grandmother", "user name"),
            ("admin", "Password1", "most common"),
            ("admin", "12345678", "most common"),
            ("admin", "babymonitor", "most common"),
            ("admin", "tab\there!", "control"),
        ] {
            let problem = password_problem(name, password)
                .unwrap_or_else(|| panic!("{password:?} for {name} was taken"));
            assert!(problem.contains(reason), "{password:?}: {problem}");
        }
        for fine in ["secret-1", "knits-4-baby", "correct horse battery"] {
            assert_eq!(password_problem("admin", fine), None, "{fine}");
        }
    }
}
