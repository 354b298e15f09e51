//! The vocabularies of the HTTP API (severities, sources, categories,
//! statuses, stages, steps, outcomes) as OpenAPI string enums, listed from
//! the enums' own `ALL` arrays: a category added to the core is in the
//! description the moment it compiles, and never needs writing twice.

use crate::dispatch::lifecycle::{Stage, StepKind};
use crate::dispatch::record::Status;
use crate::model::{Category, Severity, Source};
use crate::wire::control::Outcome;
use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// A string schema whose values are `names`.
fn names(description: &str, names: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .into()
}

/// Declares a schema type that stands for a vocabulary enum in the
/// mirrors of the schemas of schemas.rs, named as the component `$name`.
macro_rules! vocabulary_schema {
    ($(#[$doc:meta])* $ty:ident = $enum:ty, $name:literal, $description:literal) => {
        $(#[$doc])*
        pub struct $ty;

        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                names($description, <$enum>::ALL.iter().map(|v| v.name()))
            }
        }

        impl utoipa::ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

vocabulary_schema!(
    /// [`Severity`].
    SeverityName = Severity, "Severity", "An order's severity, lowest first."
);
vocabulary_schema!(
    /// [`Source`].
    SourceName = Source, "Source", "The kind of source of an event (docs/PROTOCOL.md 7.1)."
);
vocabulary_schema!(
    /// [`Category`].
    CategoryName = Category, "Category", "An event's category (docs/PROTOCOL.md 7.2)."
);
vocabulary_schema!(
    /// [`Status`].
    StatusName = Status, "Status", "open until resolved, acked once resolved, escalated once a limit was missed."
);
vocabulary_schema!(
    /// [`Stage`].
    StageName = Stage, "Stage", "Where an order is in the disposal loop (docs/PROTOCOL.md 16.1)."
);
vocabulary_schema!(
    /// [`StepKind`].
    StepName = StepKind, "StepKind", "A step of the disposal loop (docs/PROTOCOL.md 16.2)."
);
vocabulary_schema!(
    /// [`Outcome`].
    OutcomeName = Outcome, "Outcome", "What the street found."
);

/// The mode (平急转换): `normal` or `emergency`.
pub struct ModeName;

impl utoipa::PartialSchema for ModeName {
    fn schema() -> RefOr<Schema> {
        names("normal or emergency (平急转换).", ["normal", "emergency"])
    }
}

impl utoipa::ToSchema for ModeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Mode")
    }
}
