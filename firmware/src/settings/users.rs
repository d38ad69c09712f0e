//! The accounts as clients change them at run time (ONVIF's user management): stored with
//! the settings, and never without an administrator.

use tracing::info;

use super::{Refused, Settings};
use crate::config::{Role, User};

/// An account to create or change; no password leaves the one it has.
#[derive(Debug, Clone, PartialEq)]
pub struct UserChange {
    pub name: String,
    pub password: Option<String>,
    pub role: Role,
}

impl Settings {
    /// Adds accounts; a name that exists refuses them all.
    pub fn create_users(&self, new: &[UserChange]) -> Result<(), Refused> {
        self.edit_users("users created", names(new), |users| {
            for n in new {
                if users.iter().any(|u| u.name == n.name) {
                    return Err(username(format!("user \"{}\" exists", n.name)));
                }
                users.push(User {
                    name: n.name.clone(),
                    password: n.password.clone().unwrap_or_default(),
                    role: n.role,
                });
            }
            Ok(())
        })
    }

    /// Changes roles and passwords; an unknown name refuses them all.
    pub fn change_users(&self, changed: &[UserChange]) -> Result<(), Refused> {
        self.edit_users("users changed", names(changed), |users| {
            for n in changed {
                let u = find(users, &n.name)?;
                if let Some(p) = &n.password {
                    u.password = p.clone();
                }
                u.role = n.role;
            }
            keep_an_admin(users)
        })
    }

    /// Removes accounts; an unknown name refuses them all.
    pub fn delete_users(&self, names: &[String]) -> Result<(), Refused> {
        let logged = names.iter().map(String::as_str).collect();
        self.edit_users("users deleted", logged, |users| {
            for name in names {
                find(users, name)?;
                users.retain(|u| &u.name != name);
            }
            keep_an_admin(users)
        })
    }

    /// Edits the stored accounts (without a simulated admin) as one change, and logs `done`
    /// with the names (never the passwords) once it is stored.
    fn edit_users(
        &self,
        done: &str,
        names: Vec<&str>,
        edit: impl FnOnce(&mut Vec<User>) -> Result<(), Refused>,
    ) -> Result<(), Refused> {
        self.change(|state, current| {
            let mut users = current.users.clone();
            edit(&mut users)?;
            state.users = Some(users);
            Ok(())
        })?;
        info!(users = ?names, "{done}");
        Ok(())
    }
}

fn names(users: &[UserChange]) -> Vec<&str> {
    users.iter().map(|u| u.name.as_str()).collect()
}

fn username(message: String) -> Refused {
    Refused {
        field: "Username".into(),
        message,
    }
}

fn find<'a>(users: &'a mut [User], name: &str) -> Result<&'a mut User, Refused> {
    users
        .iter_mut()
        .find(|u| u.name == name)
        .ok_or_else(|| username(format!("no user \"{name}\"")))
}

fn keep_an_admin(users: &[User]) -> Result<(), Refused> {
    if users.iter().any(|u| u.role == Role::Admin) {
        Ok(())
    } else {
        Err(Refused {
            field: "UserLevel".into(),
            message: "at least one Administrator must remain".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn change(name: &str, role: Role) -> UserChange {
        UserChange {
            name: name.into(),
            password: Some("pw-123456".into()),
            role,
        }
    }

    #[test]
    fn accounts_are_created_changed_and_deleted_but_an_admin_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Settings::new(None, Config::default(), dir.path(), None).expect("settings");
        s.create_users(&[change("ann", Role::Admin), change("bob", Role::User)])
            .expect("create");
        let err = s
            .create_users(&[change("bob", Role::User)])
            .expect_err("exists");
        assert_eq!(err.to_string(), "Username: user \"bob\" exists");
        s.change_users(&[change("bob", Role::Operator)])
            .expect("change");
        assert_eq!(s.current().users[1].role, Role::Operator);
        let err = s
            .change_users(&[change("ann", Role::User)])
            .expect_err("last admin");
        assert_eq!(err.field, "UserLevel");
        let err = s.delete_users(&["eve".into()]).expect_err("unknown");
        assert_eq!(err.to_string(), "Username: no user \"eve\"");
        s.delete_users(&["bob".into()]).expect("delete");
        assert!(s.delete_users(&["ann".into()]).is_err(), "the last admin");
        let names: Vec<_> = s.current().users.iter().map(|u| u.name.clone()).collect();
        assert_eq!(names, ["ann"]);
    }
}
