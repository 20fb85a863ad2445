//! sdk: not yet.

use super::Source;

pub enum Sdk {
    Openai,
    Anthropic,
}

pub fn export(_src: &Source, _sdk: Sdk, lost: &mut Vec<String>) -> String {
    lost.push("not yet".into());
    String::new()
}
