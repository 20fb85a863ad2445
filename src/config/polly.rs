//! polly: not yet.

use serde_json::Value;

use super::doc::Doc;
use super::{Report, Source};
use crate::error::InputError;

pub fn import(
    doc: &Doc,
    _instance: Option<&str>,
    _report: &mut Report,
) -> Result<Value, InputError> {
    Err(doc.error("", "not yet"))
}

pub fn export(_src: &Source, lost: &mut Vec<String>) -> String {
    lost.push("not yet".into());
    String::new()
}
