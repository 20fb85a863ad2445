//! aichaos: a deterministic discrete-event simulator for chaos-engineering the clients of
//! AI (LLM) APIs. See ARCHITECTURE.md for the map of the code.

pub mod chaos;
pub mod charts;
pub mod checkpoint;
pub mod compare;
pub mod credits;
pub mod dist;
pub mod engine;
pub mod error;
pub mod events;
pub mod incidents;
pub mod init;
pub mod interrupt;
pub mod metrics;
pub mod outage;
pub mod outcome;
pub mod output;
pub mod parallel;
pub mod policy;
pub mod profiles;
pub mod provider;
pub mod ratelimit;
pub mod replay;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod shard;
pub mod slo;
pub mod special;
pub mod sweep;
pub mod time;
pub mod timeseries;
pub mod trace;
pub mod traffic;
