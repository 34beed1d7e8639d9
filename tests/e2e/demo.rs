//! `mayfly demo …`: the course's lessons, run through the binary.

use crate::util::mayfly;

#[test]
fn the_sticky_packet_demo_shows_the_symptom_and_the_three_cures() {
    let out = mayfly()
        .args(["demo", "sticky", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let steps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = steps.as_array().unwrap();
    assert_eq!(steps.len(), 5);
    for s in steps {
        assert_eq!(s["as_predicted"], true, "{s}");
    }
    assert_eq!(steps[0]["got"], "one recv returned \"helloegg\"");
    assert_eq!(
        steps[1]["got"],
        "recv(2) returned \"he\", the next recv \"llo egg\""
    );
    assert!(steps[2]["got"]
        .as_str()
        .unwrap()
        .starts_with("20 of 20 messages whole, 20 waits"));
    // The text form: each step with what the course says and what happened.
    let text = mayfly().args(["demo", "sticky"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert_eq!(text.matches("(as predicted)").count(), 5, "{text}");
    assert!(
        text.contains("the course: send(\"hello\") then send(\"egg\")"),
        "{text}"
    );
}
