//! Binds one batch row (a `Serialize` struct of `crate::apply::batch`) to a
//! prepared statement's named parameters `:field`, one field per parameter.
//!
//! SQLite runs a batch as one prepared statement executed per row, with the
//! row's values bound where they are: no JSON array to write and for SQLite
//! to parse again, and no lookup of each column by name inside each row's
//! object (together about a fifth of the writer's time, issue 6, round 7).
//! PostgreSQL still binds a batch as one JSON array: one round trip per batch
//! is what it needs.
//!
//! serde_rusqlite does this too, but copies every value into a boxed owned
//! value with a `String` name per field and row; this binds in place.

use rusqlite::Statement;
use rusqlite::types::Null;
use serde::ser::{self, Impossible, Serialize, SerializeStruct};

use crate::StoreError;

/// The parameter index of each field of the rows of one batch, learnt from
/// its first row: every row of a batch has the same fields in the same order.
pub(super) struct Fields {
    known: Vec<(&'static str, usize)>,
    /// The statement's parameters a row binds: every one of them, each row,
    /// so that no value of the row before is left bound (a field serde
    /// skipped would be).
    per_row: usize,
}

impl Fields {
    /// For `statement`, whose first `fixed` parameters are bound once per batch.
    pub(super) fn new(statement: &Statement<'_>, fixed: usize) -> Fields {
        Fields {
            known: Vec::new(),
            per_row: statement.parameter_count().saturating_sub(fixed),
        }
    }
}

/// Binds `row`'s fields to `statement`'s parameters of the same names.
pub(super) fn bind_row<T: Serialize>(
    statement: &mut Statement<'_>,
    fields: &mut Fields,
    row: &T,
) -> Result<(), StoreError> {
    row.serialize(RowBinder {
        statement,
        fields,
        next: 0,
    })
    .map_err(|e| StoreError::Invalid(format!("binding a batch row: {e}")))
}

#[derive(Debug, thiserror::Error)]
enum BindError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no parameter :{0} in the statement")]
    NoParameter(&'static str),
    #[error("{0}")]
    Custom(String),
    /// A value that is not one column (a struct, a list): bound as JSON.
    #[error("not a single value")]
    Compound,
}

impl ser::Error for BindError {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        BindError::Custom(msg.to_string())
    }
}

struct RowBinder<'a, 's> {
    statement: &'a mut Statement<'s>,
    fields: &'a mut Fields,
    /// The position of the next field in the row.
    next: usize,
}

impl RowBinder<'_, '_> {
    fn index_of(&mut self, key: &'static str) -> Result<usize, BindError> {
        if let Some(&(known, index)) = self.fields.known.get(self.next)
            && known == key
        {
            return Ok(index);
        }
        let index = self
            .statement
            .parameter_index(&format!(":{key}"))?
            .ok_or(BindError::NoParameter(key))?;
        self.fields.known.truncate(self.next);
        self.fields.known.push((key, index));
        Ok(index)
    }
}

impl SerializeStruct for RowBinder<'_, '_> {
    type Ok = ();
    type Error = BindError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), BindError> {
        let index = self.index_of(key)?;
        self.next += 1;
        let bound = value.serialize(ValueBinder {
            statement: self.statement,
            index,
        });
        match bound {
            // What `->>` gave for a nested value of the JSON batch: its text.
            Err(BindError::Compound) => {
                let json =
                    serde_json::to_string(value).map_err(|e| BindError::Custom(e.to_string()))?;
                Ok(self.statement.raw_bind_parameter(index, json)?)
            }
            other => other,
        }
    }

    fn end(self) -> Result<(), BindError> {
        if self.next != self.fields.per_row {
            return Err(BindError::Custom(format!(
                "the row has {} fields, the statement {} row parameters",
                self.next, self.fields.per_row
            )));
        }
        Ok(())
    }
}

/// Serializer methods that refuse their value with `$error`.
macro_rules! refuse {
    ($error:expr; $($method:ident($($arg:ty),*) -> $out:ty),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$out, BindError> {
            Err($error)
        })*
    };
}

/// A row is a struct; anything else is a programming error.
fn not_a_row() -> BindError {
    BindError::Custom("a batch row must be a struct".into())
}

impl ser::Serializer for RowBinder<'_, '_> {
    type Ok = ();
    type Error = BindError;
    type SerializeSeq = Impossible<(), BindError>;
    type SerializeTuple = Impossible<(), BindError>;
    type SerializeTupleStruct = Impossible<(), BindError>;
    type SerializeTupleVariant = Impossible<(), BindError>;
    type SerializeMap = Impossible<(), BindError>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), BindError>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, BindError> {
        Ok(self)
    }

    refuse!(not_a_row();
        serialize_bool(bool) -> (),
        serialize_i8(i8) -> (),
        serialize_i16(i16) -> (),
        serialize_i32(i32) -> (),
        serialize_i64(i64) -> (),
        serialize_u8(u8) -> (),
        serialize_u16(u16) -> (),
        serialize_u32(u32) -> (),
        serialize_u64(u64) -> (),
        serialize_f32(f32) -> (),
        serialize_f64(f64) -> (),
        serialize_char(char) -> (),
        serialize_str(&str) -> (),
        serialize_bytes(&[u8]) -> (),
        serialize_none() -> (),
        serialize_unit() -> (),
        serialize_unit_struct(&'static str) -> (),
        serialize_unit_variant(&'static str, u32, &'static str) -> (),
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant,
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), BindError> {
        Err(not_a_row())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), BindError> {
        Err(not_a_row())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), BindError> {
        Err(not_a_row())
    }
}

/// Binds one field's value as the column value `->>` read from JSON:
/// integers and booleans as INTEGER, strings as TEXT, none as NULL.
struct ValueBinder<'a, 's> {
    statement: &'a mut Statement<'s>,
    index: usize,
}

impl ValueBinder<'_, '_> {
    fn bind<T: rusqlite::ToSql>(self, value: T) -> Result<(), BindError> {
        Ok(self.statement.raw_bind_parameter(self.index, value)?)
    }
}

/// Values rusqlite binds as they are.
macro_rules! scalar {
    ($($method:ident($arg:ty)),* $(,)?) => {
        $(fn $method(self, v: $arg) -> Result<(), BindError> {
            self.bind(v)
        })*
    };
}

impl ser::Serializer for ValueBinder<'_, '_> {
    type Ok = ();
    type Error = BindError;
    type SerializeSeq = Impossible<(), BindError>;
    type SerializeTuple = Impossible<(), BindError>;
    type SerializeTupleStruct = Impossible<(), BindError>;
    type SerializeTupleVariant = Impossible<(), BindError>;
    type SerializeMap = Impossible<(), BindError>;
    type SerializeStruct = Impossible<(), BindError>;
    type SerializeStructVariant = Impossible<(), BindError>;

    scalar!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_str(&str),
    );
    fn serialize_u64(self, v: u64) -> Result<(), BindError> {
        let v = i64::try_from(v).map_err(|_| BindError::Custom(format!("{v} exceeds i64")))?;
        self.bind(v)
    }
    /// The mirror holds no floating-point column: money is integer minor units.
    fn serialize_f32(self, v: f32) -> Result<(), BindError> {
        Err(BindError::Custom(format!("float {v} in a batch row")))
    }
    fn serialize_f64(self, v: f64) -> Result<(), BindError> {
        Err(BindError::Custom(format!("float {v} in a batch row")))
    }
    fn serialize_char(self, v: char) -> Result<(), BindError> {
        self.bind(v.to_string())
    }
    fn serialize_none(self) -> Result<(), BindError> {
        self.bind(Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), BindError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), BindError> {
        self.bind(Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), BindError> {
        self.bind(Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), BindError> {
        self.bind(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), BindError> {
        value.serialize(self)
    }

    refuse!(BindError::Compound;
        serialize_bytes(&[u8]) -> (),
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant,
    );

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), BindError> {
        Err(BindError::Compound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;
    use serde::Serialize;
    use serde_json::value::RawValue;

    #[derive(Serialize)]
    struct Row<'a> {
        name: &'a str,
        count: u32,
        missing: Option<i64>,
        flag: bool,
        payload: Box<RawValue>,
    }

    /// Each field lands in its own named parameter, whatever the order of the
    /// parameters in the text, as the JSON batch's `->>` gave it; a second
    /// row rebinds every field.
    #[test]
    fn binds_fields_by_name_with_the_types_json_gave() {
        let conn = Connection::open_in_memory().unwrap();
        let mut statement = conn
            .prepare(
                "SELECT :payload, :flag, typeof(:missing), :count, typeof(:count), :name, \
                 ('{\"a\": [1, 2]}' ->> '$') = :payload",
            )
            .unwrap();
        let mut fields = Fields::new(&statement, 0);
        for (name, count) in [("first", 7), ("second", 8)] {
            let row = Row {
                name,
                count,
                missing: None,
                flag: true,
                payload: RawValue::from_string(r#"{"a":[1,2]}"#.into()).unwrap(),
            };
            bind_row(&mut statement, &mut fields, &row).unwrap();
            let mut rows = statement.raw_query();
            let r = rows.next().unwrap().unwrap();
            assert_eq!(r.get::<_, String>(0).unwrap(), r#"{"a":[1,2]}"#);
            assert_eq!(r.get::<_, i64>(1).unwrap(), 1);
            assert_eq!(r.get::<_, String>(2).unwrap(), "null");
            assert_eq!(r.get::<_, i64>(3).unwrap(), i64::from(count));
            assert_eq!(r.get::<_, String>(4).unwrap(), "integer");
            assert_eq!(r.get::<_, String>(5).unwrap(), name);
            assert_eq!(r.get::<_, i64>(6).unwrap(), 1, "same text as ->> gives");
        }
    }

    #[test]
    fn a_field_without_a_parameter_is_an_error_that_names_it() {
        let conn = Connection::open_in_memory().unwrap();
        let mut statement = conn.prepare("SELECT :name").unwrap();
        #[derive(Serialize)]
        struct Extra<'a> {
            name: &'a str,
            surplus: i64,
        }
        let mut fields = Fields::new(&statement, 0);
        let e = bind_row(
            &mut statement,
            &mut fields,
            &Extra {
                name: "x",
                surplus: 1,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains(":surplus"), "{e}");
    }

    /// A row that binds fewer parameters than the statement has (a field
    /// serde skipped) is refused: the row before's value would stay bound.
    #[test]
    fn a_row_that_leaves_a_parameter_unbound_is_an_error() {
        let conn = Connection::open_in_memory().unwrap();
        let mut statement = conn.prepare("SELECT $1, :name, :note").unwrap();
        #[derive(Serialize)]
        struct Sparse<'a> {
            name: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            note: Option<&'a str>,
        }
        let mut fields = Fields::new(&statement, 1);
        let full = Sparse {
            name: "a",
            note: Some("n"),
        };
        bind_row(&mut statement, &mut fields, &full).unwrap();
        let sparse = Sparse {
            name: "b",
            note: None,
        };
        let e = bind_row(&mut statement, &mut fields, &sparse).unwrap_err();
        assert!(e.to_string().contains("1 fields, the statement 2"), "{e}");
    }
}
