//! 人员账号 The people file: accounts with a role, a scope and an argon2id
//! password hash (PHC string), as TOML `[[user]]` entries. `tongguan users
//! add` appends one, `tongguan users hash` prints a hash. Checking a
//! password costs tens of milliseconds on purpose: callers run it off the
//! async runtime.

use crate::auth::person::{parse_scope, Person, Role};
use crate::auth::refusal::Refusal;
use crate::geo::RegionMap;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The file as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeopleFile {
    /// The accounts.
    #[serde(default)]
    pub user: Vec<UserEntry>,
}

/// One `[[user]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The account name, unique (`zhang.wei`).
    pub name: String,
    /// The name shown in the console and its watermark (`张伟`).
    pub display_name: String,
    /// `street_officer`, `street_supervisor`, `district_desk` or `admin`.
    pub role: String,
    /// A 12-digit street code, or `district`.
    pub scope: String,
    /// The password's argon2 hash (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// A disabled account cannot sign in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// Why the people file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// Not valid TOML, or a field unknown.
    #[error("{origin}: {message}")]
    Parse {
        /// The file.
        origin: String,
        /// What the parser said.
        message: String,
    },
    /// An entry that cannot be used.
    #[error("{origin}: user {name:?}: {why}")]
    Entry {
        /// The file.
        origin: String,
        /// The entry's name.
        name: String,
        /// What is wrong.
        why: String,
    },
}

/// The accounts, checked.
#[derive(Debug, Default)]
pub struct People {
    users: HashMap<String, (Person, String, bool)>,
}

/// A hash checked against when the name is unknown, so that a refusal of
/// an unknown name takes as long as one of a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such account"))
}

impl People {
    /// Parses and checks the file's text: each entry's role, scope (on the
    /// map, fitting the role), hash, and unique names.
    pub fn parse(text: &str, origin: &str, map: &RegionMap) -> Result<People, PeopleError> {
        let file: PeopleFile = toml::from_str(text).map_err(|e| PeopleError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let mut users = HashMap::new();
        for u in file.user {
            let bad = |why: String| PeopleError::Entry {
                origin: origin.to_owned(),
                name: u.name.clone(),
                why,
            };
            let person = entry_person(&u, map).map_err(bad)?;
            if PasswordHash::new(&u.password_hash).is_err() {
                return Err(bad(
                    "password_hash is not a PHC string (see tongguan users hash)".into(),
                ));
            }
            if users.contains_key(&u.name) {
                return Err(bad("the name is given twice".into()));
            }
            users.insert(u.name.clone(), (person, u.password_hash, u.disabled));
        }
        Ok(People { users })
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks a name and password (slow: argon2).
    pub fn check_password(&self, name: &str, password: &str) -> Result<Person, Refusal> {
        let Some((person, hash, disabled)) = self.users.get(name) else {
            let _ = verify(dummy_hash(), password);
            return Err(Refusal::UnknownUser(name.to_owned()));
        };
        if !verify(hash, password) {
            return Err(Refusal::WrongPassword(name.to_owned()));
        }
        if *disabled {
            return Err(Refusal::Disabled(name.to_owned()));
        }
        Ok(person.clone())
    }
}

/// An entry's person, or why it is not one.
fn entry_person(u: &UserEntry, map: &RegionMap) -> Result<Person, String> {
    if u.name.trim().is_empty() || u.name.chars().any(char::is_control) {
        return Err("the name is empty or holds control characters".into());
    }
    let role = Role::parse(&u.role).ok_or_else(|| {
        format!(
            "role {:?} is not street_officer, street_supervisor, district_desk or admin",
            u.role
        )
    })?;
    let scope = parse_scope(&u.scope, map).ok_or_else(|| {
        format!(
            "scope {:?} is not a street code on the map or \"district\"",
            u.scope
        )
    })?;
    if !role.fits(scope) {
        return Err(format!(
            "role {} cannot be bound to {:?} (street roles to a street, district roles to the district)",
            role.name(),
            u.scope
        ));
    }
    Ok(Person {
        name: u.name.clone(),
        display_name: u.display_name.clone(),
        role,
        scope,
    })
}

fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The argon2id hash of `password` with a fresh salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with its default parameters hashes any password")
        .to_string()
}

/// The text of a people file with `entry` added, refusing a name already
/// there and an entry that would not load.
pub fn add_entry(text: &str, entry: UserEntry, map: &RegionMap) -> Result<String, PeopleError> {
    let mut file: PeopleFile = toml::from_str(text).map_err(|e| PeopleError::Parse {
        origin: "the people file".into(),
        message: e.to_string(),
    })?;
    let name = entry.name.clone();
    let bad = |why: String| PeopleError::Entry {
        origin: "the people file".into(),
        name: name.clone(),
        why,
    };
    entry_person(&entry, map).map_err(bad)?;
    if file.user.iter().any(|u| u.name == entry.name) {
        return Err(bad("already in the file".into()));
    }
    file.user.push(entry);
    let body = toml::to_string(&file).map_err(|e| bad(e.to_string()))?;
    Ok(format!(
        "# 人员账号 People who sign in to the tongguan console (tongguan users add).\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, role: &str, scope: &str, password: &str) -> UserEntry {
        UserEntry {
            name: name.into(),
            display_name: format!("{name} 同志"),
            role: role.into(),
            scope: scope.into(),
            password_hash: hash_password(password),
            disabled: false,
        }
    }

    #[test]
    fn a_password_signs_in_only_its_own_account() {
        let map = RegionMap::sample();
        let text = add_entry(
            "",
            entry(
                "zhang.wei",
                "street_officer",
                "310107005000",
                "correct horse",
            ),
            &map,
        )
        .unwrap();
        let text = add_entry(
            &text,
            entry("desk", "district_desk", "district", "battery staple"),
            &map,
        )
        .unwrap();
        let people = People::parse(&text, "people.toml", &map).unwrap();
        assert_eq!(people.len(), 2);
        let p = people.check_password("zhang.wei", "correct horse").unwrap();
        assert_eq!(p.role, Role::StreetOfficer);
        assert_eq!(p.display_name, "zhang.wei 同志");
        assert_eq!(
            people.check_password("zhang.wei", "battery staple"),
            Err(Refusal::WrongPassword("zhang.wei".into()))
        );
        assert_eq!(
            people.check_password("li.na", "x"),
            Err(Refusal::UnknownUser("li.na".into()))
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let map = RegionMap::sample();
        let e = add_entry("", entry("a", "street_officer", "district", "p"), &map).unwrap_err();
        assert!(e.to_string().contains("cannot be bound"), "{e}");
        let e = add_entry("", entry("a", "chief", "district", "p"), &map).unwrap_err();
        assert!(e.to_string().contains("chief"), "{e}");
        let e = add_entry("", entry("a", "street_officer", "999999999999", "p"), &map).unwrap_err();
        assert!(e.to_string().contains("999999999999"), "{e}");
        let once = add_entry("", entry("a", "admin", "district", "p"), &map).unwrap();
        let e = add_entry(&once, entry("a", "admin", "district", "q"), &map).unwrap_err();
        assert!(e.to_string().contains("already"), "{e}");
        let bad_hash = "[[user]]\nname=\"a\"\ndisplay_name=\"A\"\nrole=\"admin\"\nscope=\"district\"\npassword_hash=\"x\"\n";
        let e = People::parse(bad_hash, "p.toml", &map).unwrap_err();
        assert!(e.to_string().contains("PHC"), "{e}");
    }
}
