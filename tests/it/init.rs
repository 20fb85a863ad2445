//! `aichaos init`: the file it writes reads top to bottom, in the words a person would use.

use crate::support::aichaos;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON document as written: objects keep their keys in the file's order (serde_json's
/// `Value` sorts them).
enum Written {
    Object(Vec<(String, Written)>),
    Array(Vec<Written>),
    Scalar(Value),
}

impl<'de> Deserialize<'de> for Written {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Reader;
        impl<'de> Visitor<'de> for Reader {
            type Value = Written;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Written, E> {
                Ok(Written::Scalar(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Written, E> {
                Ok(Written::Scalar(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Written, E> {
                Ok(Written::Scalar(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Written, E> {
                Ok(Written::Scalar(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Written, E> {
                Ok(Written::Scalar(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Written, E> {
                Ok(Written::Scalar(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Written, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Written::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Written, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Written::Object(entries))
            }
        }
        deserializer.deserialize_any(Reader)
    }
}

impl Written {
    fn keys(&self) -> Vec<&str> {
        match self {
            Written::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn get(&self, key: &str) -> &Written {
        match self {
            Written::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no `{key}`")),
            _ => panic!("`{key}` of a non-object"),
        }
    }

    fn at(&self, index: usize) -> &Written {
        match self {
            Written::Array(items) => &items[index],
            _ => panic!("[{index}] of a non-array"),
        }
    }

    /// Every object of the document, outermost first.
    fn objects(&self) -> Vec<&Written> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            match node {
                Written::Object(entries) => {
                    out.push(node);
                    stack.extend(entries.iter().map(|(_, v)| v));
                }
                Written::Array(items) => stack.extend(items),
                Written::Scalar(_) => {}
            }
        }
        out
    }
}

/// Runs `aichaos init` with `args` in a fresh directory; the scenario as written.
fn init(args: &[&str]) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.json");
    let file = file.to_str().unwrap();
    let mut all = vec!["init", file];
    all.extend(args);
    let (code, _, stderr) = aichaos(&all);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// `[before, after]` holds in an object that has both keys.
#[track_caller]
fn in_order(object: &Written, before: &str, after: &str) {
    let keys = object.keys();
    let (Some(b), Some(a)) = (
        keys.iter().position(|k| *k == before),
        keys.iter().position(|k| *k == after),
    ) else {
        return;
    };
    assert!(b < a, "`{before}` after `{after}` in {keys:?}");
}

#[test]
fn init_writes_keys_in_reading_order() {
    for args in [
        &[][..],
        &["--provider-profile", "anthropic-tier1"],
        &["--preset", "aws-standard"],
    ] {
        let doc = init(args);
        assert_eq!(
            doc.keys(),
            [
                "$schema",
                "name",
                "description",
                "seed",
                "duration",
                "bucket",
                "traffic",
                "providers",
                "slos",
                "expect"
            ],
            "{args:?}"
        );
        let group = doc.get("traffic").at(0);
        assert_eq!(group.keys(), ["name", "arrivals", "request", "policy"]);
        assert_eq!(group.get("arrivals").keys(), ["type", "rate"]);
        for object in doc.objects() {
            let keys = object.keys();
            // What an object is comes first (after a `$schema`, which is for the editor).
            let leading = keys.iter().find(|k| **k != "$schema");
            for first in ["name", "dist"] {
                if keys.contains(&first) {
                    assert_eq!(leading, Some(&first), "{args:?}: {keys:?}");
                }
            }
            for (before, after) in [
                ("provider", "model"),
                ("min", "max"),
                ("median", "p99"),
                ("start", "duration"),
                ("duration", "kind"),
                ("kind", "behaviour"),
                ("connect", "total"),
                ("models", "capacity"),
                ("input_usd_per_mtok", "output_usd_per_mtok"),
                ("ttft", "per_token"),
                ("success_rate", "window"),
                ("long_window", "short_window"),
            ] {
                in_order(object, before, after);
            }
        }
    }
}

#[test]
fn init_writes_rates_as_people_write_them() {
    // Without a profile, 10 requests/s; with one, 70 % of what the primary model's limits
    // sustain for the starter's requests, at most 10/s.
    let profiles = std::iter::once(None).chain(aichaos::profiles::NAMES.iter().map(Some));
    for profile in profiles {
        let args: Vec<&str> = profile.map_or(vec![], |p| vec!["--provider-profile", p]);
        let doc = init(&args);
        let Written::Scalar(Value::String(rate)) =
            doc.get("traffic").at(0).get("arrivals").get("rate")
        else {
            panic!("the rate is a string");
        };
        let (number, unit) = rate.split_once('/').unwrap();
        assert!(
            number.bytes().all(|b| b.is_ascii_digit()) && ["s", "min", "h"].contains(&unit),
            "{profile:?}: {rate}"
        );
        // Per minute: gpt-4o at tier 1 sustains 30,000 TPM / 1,000 (max_tokens, the larger
        // part) = 30; tier 5 more than 10/s; Claude 3.5 Sonnet at tier 1 32 by its 8,000
        // OTPM over ~250 output tokens, at tier 4 320 by its 80,000 OTPM.
        let intended = match profile.copied() {
            None => 10.0,
            Some("openai-tier1") => 0.7 * 30.0 / 60.0,
            Some("openai-tier5") => 10.0,
            Some("anthropic-tier1") => 0.7 * 32.0 / 60.0,
            Some("anthropic-tier4") => 0.7 * 320.0 / 60.0,
            Some(other) => panic!("no expected rate for {other}"),
        };
        let written = aichaos::time::parse_rate_per_s(rate).unwrap();
        assert!(
            (written / intended - 1.0).abs() < 0.05,
            "{profile:?}: {rate} for {intended}/s"
        );
    }
}
