//! Python's `http.client` as a real peer: keep-alive GETs, a POST, a 404, HTTP/1.0-style
//! close. Skipped with a printed line when python3 is missing, except under CI=true.

mod util;

use std::process::Command;
use std::time::Duration;

use util::{options, server};

const CLIENT: &str = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for _ in range(3):
    c.request("GET", "/")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"Hello, World!", r.status
c.request("POST", "/echo", body=b"name=ann", headers={"Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse()
assert r.status == 200 and r.read() == b"name=ann"
c.request("GET", "/a%20b?x=1")
r = c.getresponse()
assert r.read() == b"target /a%20b?x=1"
c.request("GET", "/", headers={"Connection": "close"})
r = c.getresponse()
assert r.read() == b"Hello, World!" and r.will_close
c.close()
import urllib.request
with urllib.request.urlopen("http://127.0.0.1:%s/q?y=2" % sys.argv[1], timeout=5) as u:
    assert u.read() == b"target /q?y=2"
print("python ok")
"#;

#[test]
fn python_http_client_talks_to_the_server() {
    if Command::new("python3").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is missing and CI=true"
        );
        println!("skipped: python3 is missing");
        return;
    }
    let s = server(options());
    let out = Command::new("python3")
        .args(["-c", CLIENT, &s.local_addr().port().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("python ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop(Duration::from_secs(1));
    assert_eq!(s.stats().requests, 7);
}
