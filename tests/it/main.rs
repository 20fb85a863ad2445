//! Integration tests: one binary, a module per topic. Most tests run a tiny scenario and
//! assert on its outcome (see STYLE: test features, not functions).

mod bad_input;
mod charts;
mod cli;
mod compare;
mod config;
mod determinism;
mod docs;
mod fit;
mod incidents;
mod init;
mod interrupt;
mod outputs;
mod policy;
mod presets;
mod properties;
mod providers;
mod requestlog;
mod schema;
mod serve;
mod support;
mod sweep;
mod validation;
mod world;
