//! What a subscriber may see: one street's orders, or every order (the
//! district duty desk). The one rule for QUIC subscriptions, acks, the
//! dispatcher's routing and the console alike.

use super::Order;
use crate::geo::{RegionMap, StreetId};
use crate::wire::control::DISTRICT;

/// What a subscriber token may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One street's orders.
    Street(StreetId),
    /// Every order (district duty desk).
    District,
}

impl Scope {
    /// The scope as the protocol names it: a street's code or `district`.
    pub fn name(self, map: &RegionMap) -> String {
        match self {
            Scope::District => DISTRICT.to_owned(),
            Scope::Street(s) => map.street(s).code.clone(),
        }
    }

    /// Whether this scope may see and acknowledge the order: the district
    /// every order, a street the orders of its own street but not their
    /// escalations, which are the district's.
    pub fn may_see(self, map: &RegionMap, order: &Order) -> bool {
        match self {
            Scope::District => true,
            Scope::Street(s) => {
                order.escalation_of.is_none()
                    && order.street_code() == Some(map.street(s).code.as_str())
            }
        }
    }
}
