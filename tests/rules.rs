//! Every example in the pattern files is a test: positives must yield exactly the generated key,
//! negatives nothing. Each template is tried with several generated keys.

use sgscan::{Detector, embedded_rules};

use crate::util::{KeyGen, expand};

#[test]
fn pattern_file_examples() {
    let rules = embedded_rules().unwrap();
    let specs: Vec<_> = rules.iter().map(|r| r.spec.clone()).collect();
    let detector = Detector::new(rules).unwrap();
    let mut keys = KeyGen::new(7);
    let mut checked = 0;
    for spec in &specs {
        assert!(
            !spec.examples.positive.is_empty() && !spec.examples.negative.is_empty(),
            "rule {} needs examples",
            spec.id
        );
        for _ in 0..20 {
            for t in &spec.examples.positive {
                let (text, key) = expand(t, &mut keys);
                let found: Vec<String> = detector
                    .scan(text.as_bytes())
                    .into_iter()
                    .map(|m| m.key)
                    .collect();
                assert_eq!(found, vec![key], "positive example {t:?} (expanded {text:?})");
                checked += 1;
            }
            for t in &spec.examples.negative {
                let (text, _) = expand(t, &mut keys);
                let found: Vec<String> = detector
                    .scan(text.as_bytes())
                    .into_iter()
                    .map(|m| m.key)
                    .collect();
                assert!(
                    found.is_empty(),
                    "negative example {t:?} (expanded {text:?}) matched {found:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
}
