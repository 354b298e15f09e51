//! Who takes a step: a named person, the role they have and the scope
//! they act in. The shell finds out who (a signed-in session, a verified
//! token, a street platform naming its officer); the core decides what
//! that person may do.

use crate::dispatch::scope::Scope;
use crate::geo::RegionMap;
use crate::vocabulary::vocabulary;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// What a person is allowed to do, within their scope.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ActorRole {
        /// 街镇值班员: accepts, handles, reports and resolves the street's orders.
        StreetOfficer => "street_officer",
        /// 街镇主管: what an officer does, for the whole street.
        StreetSupervisor => "street_supervisor",
        /// 区总值班: verifies, sends back, closes and re-routes any order.
        DistrictDesk => "district_desk",
        /// 管理员: what the district desk does.
        Admin => "admin",
        /// A street or district platform's machine client, acting for the
        /// person it names.
        Platform => "platform",
    }
}

/// A person taking a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who: a user name, or the name a platform gives its officer.
    pub person: String,
    /// Their role.
    pub role: ActorRole,
    /// Where they act: their street, or the district.
    pub scope: Scope,
}

impl Actor {
    /// Whether the actor acts for the district (desk, admin, or a district
    /// platform).
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
