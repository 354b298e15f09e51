//! Who takes a step: a named person, the role they have and the scope
//! they act in. The shell finds out who (a signed-in session, a verified
//! token, a street platform naming its officer); the core decides what
//! that person may do.

use crate::dispatch::scope::Scope;
use crate::geo::RegionMap;
pub use crate::people::Role;

/// A person taking a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who: a user name, or the name a platform gives its officer.
    pub person: String,
    /// Their role (a street platform's token acts as the street's
    /// supervisor, a district token as the desk).
    pub role: Role,
    /// Where they act: their street, or the district.
    pub scope: Scope,
}

impl Actor {
    /// Whether the actor acts for the district (desk, admin, or a district
    /// platform's token).
    pub fn is_district(&self) -> bool {
        self.scope == Scope::District
    }

    /// How history lines and records name them: "张三（310107005000）".
    pub fn label(&self, map: &RegionMap) -> String {
        let scope = self.scope.name(map);
        if self.person.is_empty() || self.person == scope {
            scope
        } else {
            format!("{}（{scope}）", self.person)
        }
    }
}
