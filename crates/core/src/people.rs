//! 人员与角色 (people and roles): the four roles a person signs in with,
//! which scope each may be bound to, and what each may do. One table for
//! every HTTP handler and for the dispatcher's order steps, so that "who
//! may" is decided in one place and tested without a server.
//!
//! A role is bound to a scope ([`Scope`]): street officers and supervisors
//! to one street, the district desk and administrators to the district.

use crate::dispatch::scope::Scope;

/// A person's role (角色).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 街镇值班员: accepts, handles and reports on its street's orders.
    StreetOfficer,
    /// 街镇负责人: a street officer who may also assign and transfer.
    StreetSupervisor,
    /// 区总值班: sees every street, verifies, sends back, closes, re-routes;
    /// reads the audit trail.
    DistrictDesk,
    /// 系统管理员: everything the desk may, and changes the hub (rules,
    /// mode).
    Admin,
}

/// Everything a handler asks permission for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the orders of one's own scope (the console).
    ReadOwnScope,
    /// Read every order and device (`/api/orders`, `/api/devices`).
    ReadAll,
    /// Take a street's steps on an order (accept, feedback, resolve).
    HandleOrder,
    /// Assign an order to a person, transfer it to another street.
    AssignOrder,
    /// The district's steps: verify, send back, close, re-route.
    SuperviseOrder,
    /// Read the audit trail.
    ReadAudit,
    /// Change the hub: rules, mode, JSON ingest.
    ChangeHub,
}

/// Every role, in order of rank.
pub const ROLES: [Role; 4] = [
    Role::StreetOfficer,
    Role::StreetSupervisor,
    Role::DistrictDesk,
    Role::Admin,
];

impl Role {
    /// The role as configs, tokens and JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Role::StreetOfficer => "street_officer",
            Role::StreetSupervisor => "street_supervisor",
            Role::DistrictDesk => "district_desk",
            Role::Admin => "admin",
        }
    }

    /// The role in Chinese, for the console and refusals.
    pub fn name_zh(self) -> &'static str {
        match self {
            Role::StreetOfficer => "街镇值班员",
            Role::StreetSupervisor => "街镇负责人",
            Role::DistrictDesk => "区总值班",
            Role::Admin => "系统管理员",
        }
    }

    /// Parses [`Role::name`].
    pub fn parse(text: &str) -> Option<Role> {
        ROLES.into_iter().find(|r| r.name() == text)
    }

    /// Whether the role works for the district (else for one street).
    pub fn is_district(self) -> bool {
        matches!(self, Role::DistrictDesk | Role::Admin)
    }

    /// Whether a person of this role may be bound to `scope`: street roles
    /// to a street, district roles to the district.
    pub fn fits(self, scope: Scope) -> bool {
        self.is_district() == matches!(scope, Scope::District)
    }

    /// Whether this role may do `action` (within its scope: a street role's
    /// orders are its own street's, which the caller checks with
    /// [`Scope::may_see`]).
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match action {
            ReadOwnScope | HandleOrder => true,
            AssignOrder => self != Role::StreetOfficer,
            ReadAll | SuperviseOrder | ReadAudit => self.is_district(),
            ChangeHub => self == Role::Admin,
        }
    }
}

impl Action {
    /// What the action is, in Chinese and English, for refusals.
    pub fn describe(self) -> &'static str {
        match self {
            Action::ReadOwnScope => "查看本辖区工单 / read the orders of one's scope",
            Action::ReadAll => "查看全区工单和设备 / read every order and device",
            Action::HandleOrder => "处置工单 / handle an order",
            Action::AssignOrder => "派遣或转派工单 / assign or transfer an order",
            Action::SuperviseOrder => "核查、退回、结案 / verify, send back, close an order",
            Action::ReadAudit => "查看审计日志 / read the audit trail",
            Action::ChangeHub => "修改规则或模式 / change the rules or the mode",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::RegionMap;

    #[test]
    fn names_round_trip() {
        for r in ROLES {
            assert_eq!(Role::parse(r.name()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn street_roles_bind_to_a_street_and_district_roles_to_the_district() {
        let map = RegionMap::sample();
        let street = Scope::Street(map.street_by_code("310107005000").unwrap());
        assert!(Role::StreetOfficer.fits(street));
        assert!(!Role::StreetOfficer.fits(Scope::District));
        assert!(Role::DistrictDesk.fits(Scope::District));
        assert!(!Role::Admin.fits(street));
    }

    #[test]
    fn each_role_may_what_its_rank_allows() {
        let officer = Role::StreetOfficer;
        assert!(officer.may(Action::HandleOrder));
        assert!(!officer.may(Action::AssignOrder));
        assert!(!officer.may(Action::ReadAudit));
        assert!(Role::StreetSupervisor.may(Action::AssignOrder));
        assert!(!Role::StreetSupervisor.may(Action::SuperviseOrder));
        assert!(Role::DistrictDesk.may(Action::ReadAudit));
        assert!(Role::DistrictDesk.may(Action::ReadAll));
        assert!(!Role::DistrictDesk.may(Action::ChangeHub));
        assert!(Role::Admin.may(Action::ChangeHub));
    }
}
