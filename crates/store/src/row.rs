//! Reading and writing column values the way both backends store them: decimals as canonical text,
//! booleans as 0/1 integers, enums as their spelling. Every value read back goes through
//! [`RowReader`], which turns anything that does not decode or parse into
//! [`StoreError::Corrupt`] naming the table, column and row, so bad data never panics.

use std::fmt::Display;
use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};

/// The stored form of a decimal: normalised (no trailing zeros, no negative zero) so that equal
/// amounts are equal text and `0.00000001` never turns into `1E-8`.
pub(crate) fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// The stored form of a boolean.
pub(crate) fn bool_int(value: bool) -> i64 {
    i64::from(value)
}

/// Reads the columns of one row of `table`, reporting failures against that row's key.
pub(crate) struct RowReader<'r> {
    row: &'r AnyRow,
    table: &'static str,
    /// The integer column that identifies the row in errors, read only when there is one (a
    /// string per row read would cost an allocation for nothing).
    key_column: &'static str,
}

impl<'r> RowReader<'r> {
    /// A reader for `row`, identified in errors by its integer `key_column` (the id, or the bot or
    /// user id for tables keyed by those).
    pub(crate) fn new(
        row: &'r AnyRow,
        table: &'static str,
        key_column: &'static str,
    ) -> StoreResult<Self> {
        let reader = RowReader {
            row,
            table,
            key_column,
        };
        // A key that does not decode is itself the corruption to report.
        reader.i64(key_column)?;
        Ok(reader)
    }

    /// [`StoreError::Corrupt`] about `column` of this row, for a value that decodes but makes no
    /// sense (with the row's other values, say).
    pub(crate) fn corrupt(&self, column: &'static str, detail: impl Display) -> StoreError {
        let row_id = self
            .row
            .try_get::<i64, _>(self.key_column)
            .map_or_else(|_| "?".to_owned(), |id| id.to_string());
        StoreError::Corrupt {
            table: self.table,
            column,
            row_id,
            detail: detail.to_string(),
        }
    }

    fn get<T>(&self, column: &'static str) -> StoreResult<T>
    where
        T: for<'a> sqlx::Decode<'a, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.row
            .try_get::<T, _>(column)
            .map_err(|error| self.corrupt(column, error))
    }

    /// An integer column.
    pub(crate) fn i64(&self, column: &'static str) -> StoreResult<i64> {
        self.get(column)
    }

    /// A nullable integer column.
    pub(crate) fn opt_i64(&self, column: &'static str) -> StoreResult<Option<i64>> {
        self.get(column)
    }

    /// A text column.
    pub(crate) fn string(&self, column: &'static str) -> StoreResult<String> {
        self.get(column)
    }

    /// A nullable text column.
    pub(crate) fn opt_string(&self, column: &'static str) -> StoreResult<Option<String>> {
        self.get(column)
    }

    /// A binary column.
    pub(crate) fn bytes(&self, column: &'static str) -> StoreResult<Vec<u8>> {
        self.get(column)
    }

    /// A boolean stored as 0 or 1.
    pub(crate) fn bool(&self, column: &'static str) -> StoreResult<bool> {
        self.bool_from(column, self.i64(column)?)
    }

    /// A nullable boolean stored as 0 or 1.
    pub(crate) fn opt_bool(&self, column: &'static str) -> StoreResult<Option<bool>> {
        self.opt_i64(column)?
            .map(|value| self.bool_from(column, value))
            .transpose()
    }

    fn bool_from(&self, column: &'static str, value: i64) -> StoreResult<bool> {
        match value {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.corrupt(column, format!("{other} is not a boolean (0 or 1)"))),
        }
    }

    /// A nullable text column holding a JSON array of strings.
    pub(crate) fn opt_string_list(&self, column: &'static str) -> StoreResult<Option<Vec<String>>> {
        self.opt_text(column)?
            .map(|text| {
                serde_json::from_str(text).map_err(|error| {
                    let detail = format!("{text:?} is not a JSON array of strings: {error}");
                    self.corrupt(column, detail)
                })
            })
            .transpose()
    }

    /// A text column holding a value of `T`'s spelling (an enum, a side).
    pub(crate) fn parse<T>(&self, column: &'static str) -> StoreResult<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.text(column)?
            .parse()
            .map_err(|error| self.corrupt(column, error))
    }

    /// A nullable text column, borrowed from the row rather than copied.
    fn opt_text(&self, column: &'static str) -> StoreResult<Option<&'r str>> {
        self.row
            .try_get::<Option<&'r str>, _>(column)
            .map_err(|error| self.corrupt(column, error))
    }

    /// A text column, borrowed from the row rather than copied.
    pub(crate) fn text(&self, column: &'static str) -> StoreResult<&'r str> {
        self.opt_text(column)?
            .ok_or_else(|| self.corrupt(column, "NULL where a value is required"))
    }

    /// A text column holding a decimal.
    pub(crate) fn decimal(&self, column: &'static str) -> StoreResult<Decimal> {
        self.parse_decimal(column, self.text(column)?)
    }

    /// A nullable text column holding a decimal.
    pub(crate) fn opt_decimal(&self, column: &'static str) -> StoreResult<Option<Decimal>> {
        self.opt_text(column)?
            .map(|text| self.parse_decimal(column, text))
            .transpose()
    }

    fn parse_decimal(&self, column: &'static str, text: &str) -> StoreResult<Decimal> {
        // Exact: a value with more digits than a Decimal holds is corrupt, not silently rounded.
        Decimal::from_str_exact(text)
            .map_err(|error| self.corrupt(column, format!("{text:?} is not a decimal: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_stored_in_canonical_form() {
        let text = |s: &str| decimal_text(Decimal::from_str_exact(s).unwrap());
        assert_eq!(text("0.00000001"), "0.00000001");
        assert_eq!(text("1.50000000"), "1.5");
        assert_eq!(text("100"), "100");
        assert_eq!(text("-0.000"), "0");
        assert_eq!(text("12345678901.12345678"), "12345678901.12345678");
    }
}
