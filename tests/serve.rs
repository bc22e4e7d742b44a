//! `tokenwatch serve` end to end: the real binary on a loopback port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tokenwatch::server::signature::sign;
use tokenwatch::time::Timestamp;

const SECRET: &str = "test-secret";

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokenwatch"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("TOKENWATCH_WEBHOOK_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tokenwatch serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (found, address) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = found.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(30))
            .expect("the server says where it listens");
        Server {
            child,
            base: format!("http://{address}"),
        }
    }

    fn post(&self, path: &str, body: &[u8], signature: Option<&str>) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.post(format!("{}{path}", self.base));
        if let Some(sig) = signature {
            request = request.header("Qlik-Signature", sig);
        }
        let mut response = request.send(body).expect("the request completes");
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    fn deliver(&self, body: &str) -> (u16, String) {
        self.post(
            "/webhook",
            body.as_bytes(),
            Some(&sign(SECRET.as_bytes(), body.as_bytes())),
        )
    }

    fn get(&self, path: &str) -> String {
        ureq::get(format!("{}{path}", self.base))
            .call()
            .expect("GET works")
            .body_mut()
            .read_to_string()
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                assert!(
                    status.success(),
                    "serve exits 0 after SIGTERM, got {status}"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop after SIGTERM"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn issued(id: &str, time: &str, grant: &str) -> String {
    format!(
        r#"{{"id":"{id}","time":"{time}","type":"com.qlik.oauth-token.issued","source":"qlik","specversion":"1.0","tenantid":"t1","originip":"198.51.100.7","data":{{"grantType":"{grant}","scopes":["admin_classic"],"issuedToClientId":"c1","resourceOwner":"u1"}}}}"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

const IMPERSONATION: &str = "urn:qlik:oauth:user-impersonation";

/// A server running the rules of `yaml` (written to `rules.yaml` in `dir`)
/// with findings to `findings.ndjson` there, and `extra` arguments; with
/// the paths of both files.
fn with_rules(dir: &Path, yaml: &str, extra: &[&str]) -> (Server, PathBuf, PathBuf) {
    let rules = write(dir, "rules.yaml", yaml);
    let output = dir.join("findings.ndjson");
    let mut args = vec![
        "--rules",
        rules.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (Server::start(&args), rules, output)
}

#[test]
fn status_codes_signatures_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors.ndjson");
    let output = dir.path().join("findings.ndjson");
    let server = Server::start(&[
        "--max-body-bytes",
        "2000",
        "--errors",
        errors.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    let body = issued("e1", "2026-03-07T14:00:00Z", IMPERSONATION);
    let good = sign(SECRET.as_bytes(), body.as_bytes());

    assert_eq!(
        server.post("/webhook", body.as_bytes(), None).0,
        401,
        "missing signature"
    );
    assert_eq!(
        server.post("/webhook", body.as_bytes(), Some("")).0,
        401,
        "empty signature"
    );
    let wrong = sign(b"other-secret", body.as_bytes());
    assert_eq!(
        server.post("/webhook", body.as_bytes(), Some(&wrong)).0,
        401,
        "wrong secret"
    );
    let tampered = body.replace("u1", "u2");
    assert_eq!(
        server.post("/webhook", tampered.as_bytes(), Some(&good)).0,
        401,
        "body changed"
    );

    let (status, text) = server.post("/webhook", body.as_bytes(), Some(&good.to_uppercase()));
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"status":"accepted"}"#),
        "uppercase hex"
    );
    let (status, text) = server.deliver(&body);
    assert_eq!((status, text.as_str()), (200, r#"{"status":"duplicate"}"#));

    let (status, text) = server.deliver("");
    assert_eq!(status, 400, "a signed empty body is not an event: {text}");
    let (status, text) = server.deliver(r#"{"id":"x","type":"t"}"#);
    assert_eq!(status, 400);
    assert!(text.contains("missing required field 'source'"), "{text}");
    assert_eq!(server.deliver("{not json").0, 400);

    let big = format!(r#"{{"pad":"{}"}}"#, "a".repeat(3000));
    assert_eq!(server.deliver(&big).0, 413);
    // A declared length over the limit is refused before any body is sent.
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut waiting = std::net::TcpStream::connect(&address).expect("connects");
    waiting
        .write_all(
            b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .expect("sends the headers");
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = [0u8; 64];
    let read = waiting.read(&mut answer).expect("answered before the body");
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );

    // A body that never arrives whole was not checked against the
    // signature: it is not counted as an event rejected.
    let mut broken = std::net::TcpStream::connect(&address).expect("connects");
    broken
        .write_all(
            b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        )
        .expect("sends the request");
    broken
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let read = broken.read(&mut answer).expect("answered");
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );
    // An event without a time is counted where the engine's counts are.
    let untimed = r#"{"id":"u1","type":"com.example.other","source":"s","specversion":"1.0","tenantid":"t1","data":{}}"#;
    assert_eq!(server.deliver(untimed).0, 200);

    assert_eq!(server.get("/healthz"), "ok\n");
    // The engine's counts are published every second.
    wait_for("the engine's counts", || {
        server
            .get("/metrics")
            .contains("tokenwatch_untimed_events_total 1")
    });
    let metrics = server.get("/metrics");
    for line in [
        "tokenwatch_events_total{outcome=\"accepted\"} 2",
        "tokenwatch_events_total{outcome=\"duplicate\"} 1",
        "tokenwatch_events_total{outcome=\"rejected\"} 3",
        "tokenwatch_events_total{outcome=\"unauthorized\"} 4",
        "tokenwatch_events_total{outcome=\"too_large\"} 2",
        "tokenwatch_events_total{outcome=\"unread\"} 1",
        "tokenwatch_request_duration_seconds_count 13",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    wait_for("the finding", || {
        std::fs::read_to_string(&output).is_ok_and(|t| t.contains("impersonation-admin-scope"))
    });
    server.stop();

    let kept = std::fs::read_to_string(&errors).unwrap();
    assert!(
        kept.contains(
            "# webhook: missing required field 'source'\n{\"id\":\"x\",\"type\":\"t\"}\n"
        ),
        "{kept}"
    );
    assert!(kept.contains("{not json\n"), "{kept}");
    let findings = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        findings.lines().count(),
        1,
        "a duplicate is evaluated once: {findings}"
    );
}

/// Writes a rule that fires at `gte` grants for one client within 10m; the
/// `serve` arguments that run it with a state file and an output file
/// (and `extra`), and those two paths.
fn grants_with_state(dir: &Path, gte: u32, extra: &[&str]) -> (Vec<String>, PathBuf, PathBuf) {
    let rules = write(
        dir,
        "grants.yaml",
        &format!(
            "id: grants\ntitle: Grants\nseverity: low\nmatch:\n  any:\n    data.grantType|exists: true\n\
             correlation:\n  type: event_count\n  group-by: [data.issuedToClientId]\n  timespan: 10m\n  condition: {{gte: {gte}}}\n"
        ),
    );
    let state = dir.join("state.json");
    let output = dir.join("findings.ndjson");
    let mut args: Vec<String> = ["--rules", "--state", "--output"]
        .into_iter()
        .zip([&rules, &state, &output])
        .flat_map(|(flag, path)| [flag.to_owned(), path.display().to_string()])
        .collect();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    (args, state, output)
}

#[test]
fn state_survives_a_restart_and_completes_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let (args, state, output) = grants_with_state(dir.path(), 2, &["--lateness", "2s"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The wall clock moves a live stream's time forward, so these events
    // happen now.
    let now = || Timestamp(chrono::Utc::now().timestamp_micros()).to_rfc3339();
    let first_time = now();
    let first = Server::start(&args);
    assert_eq!(
        first
            .deliver(&issued("a", &first_time, "client_credentials"))
            .0,
        200
    );
    first.stop();
    let saved = std::fs::read_to_string(&state).expect("state saved at SIGTERM");
    assert!(saved.contains("\"format\":\"tokenwatch-state\""), "{saved}");
    assert!(
        std::fs::read_to_string(&output)
            .unwrap_or_default()
            .is_empty()
    );

    let second = Server::start(&args);
    assert_eq!(
        second
            .deliver(&issued("a", &first_time, "client_credentials"))
            .1,
        r#"{"status":"duplicate"}"#
    );
    assert_eq!(
        second.deliver(&issued("b", &now(), "client_credentials")).0,
        200
    );
    wait_for("the window to complete", || {
        std::fs::read_to_string(&output).is_ok_and(|t| t.contains(r#""events":["a","b"]"#))
    });
    second.stop();
}

#[test]
fn a_checkpoint_keeps_deliveries_waiting_for_their_lateness() {
    // Killed after a checkpoint, not stopped: the delivery that waited in
    // the reorder buffer when the state was saved still counts after the
    // restart, and a delivery a little older than the last one is not late.
    let dir = tempfile::tempdir().unwrap();
    let (args, state, output) = grants_with_state(dir.path(), 3, &["--checkpoint-seconds", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ago = |seconds: i64| {
        Timestamp(chrono::Utc::now().timestamp_micros() - seconds * 1_000_000).to_rfc3339()
    };
    let first = Server::start(&args);
    assert_eq!(
        first
            .deliver(&issued("a", &ago(20), "client_credentials"))
            .0,
        200
    );
    wait_for("a checkpoint holding the waiting delivery", || {
        std::fs::read_to_string(&state).is_ok_and(|t| t.contains(r#"\"id\":\"a\""#))
    });
    drop(first);

    let second = Server::start(&args);
    assert_eq!(
        second
            .deliver(&issued("a", &ago(20), "client_credentials"))
            .1,
        r#"{"status":"duplicate"}"#
    );
    assert_eq!(
        second
            .deliver(&issued("c", &ago(5), "client_credentials"))
            .0,
        200
    );
    assert_eq!(
        second
            .deliver(&issued("b", &ago(10), "client_credentials"))
            .0,
        200
    );
    second.stop();
    let findings = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(findings.contains(r#""events":["a","b","c"]"#), "{findings}");
}

#[test]
fn a_stateless_finding_is_written_without_waiting_for_the_lateness() {
    let dir = tempfile::tempdir().unwrap();
    // The default lateness of five minutes holds correlation input back;
    // a stateless finding is written at once.
    let (server, _, output) = with_rules(
        dir.path(),
        "id: impersonation\ntitle: Impersonation\nseverity: high\nmatch:\n  s:\n    data.grantType: urn:qlik:oauth:user-impersonation\n",
        &[],
    );
    let now = Timestamp(chrono::Utc::now().timestamp_micros()).to_rfc3339();
    assert_eq!(server.deliver(&issued("e1", &now, IMPERSONATION)).0, 200);
    wait_for("the finding", || {
        std::fs::read_to_string(&output).is_ok_and(|t| t.contains(r#""rule":"impersonation""#))
    });
    server.stop();
}

#[test]
fn a_silent_connection_is_closed() {
    let server = Server::start(&["--idle-timeout", "1s"]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut silent = std::net::TcpStream::connect(&address).expect("connects");
    silent
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
        .expect("sends part of a request");
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = silent.read_to_end(&mut rest);
    assert!(
        read.is_ok(),
        "closed by the server, not timed out: {read:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(server.get("/healthz"), "ok\n");
    server.stop();
}

#[test]
fn connections_past_the_limit_wait_to_be_served() {
    let server = Server::start(&["--max-connections", "1", "--idle-timeout", "30s"]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let holder = std::net::TcpStream::connect(&address).expect("connects");
    thread::sleep(Duration::from_millis(200));
    let mut waiting = std::net::TcpStream::connect(&address).expect("queued by the kernel");
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("sends a request");
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut answer = [0u8; 512];
    assert!(
        waiting.read(&mut answer).is_err(),
        "answered while the only slot was taken"
    );
    drop(holder);
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let read = waiting
        .read(&mut answer)
        .expect("answered once the slot is free");
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
    server.stop();
}

#[test]
fn a_request_sent_a_byte_at_a_time_is_cut_off() {
    let server = Server::start(&["--idle-timeout", "30s", "--request-timeout", "1s"]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&address).expect("connects");
    let started = Instant::now();
    let request = b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Padding: "
        .iter()
        .chain(&[b'a'; 200]);
    let mut cut_off = false;
    for byte in request {
        if slow.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each byte came well within the idle limit, yet the request, not
    // whole after a second, was cut off: the server closed its side.
    let closed = cut_off || {
        slow.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        slow.read_to_end(&mut Vec::new()).is_ok()
    };
    assert!(closed);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // The limit is per request: a kept-alive connection whose requests
    // each arrive at once lives on past it.
    let mut kept = std::net::TcpStream::connect(&address).expect("connects");
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..3 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("sends a request");
        let mut answer = [0u8; 512];
        let read = kept.read(&mut answer).expect("answered");
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(600));
    }
    server.stop();
}

#[test]
fn a_half_sent_request_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let server = Server::start(&["--state", state.to_str().unwrap()]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&address).expect("connects");
    slow.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
        .expect("sends part of a request");
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(25));
    assert!(state.exists(), "state saved");
    drop(slow);
}

/// A webhook receiver that answers 500 to the first `failures` requests and
/// 200 after; it reports each body it receives.
fn receiver(failures: usize) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (bodies, received) = mpsc::channel();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let status = if n < failures {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = bodies.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, received)
}

#[test]
fn webhook_sink_retries_then_delivers() {
    let (url, received) = receiver(2);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool.ndjson");
    let server = Server::start(&[
        "--sink-webhook",
        &url,
        "--spool",
        spool.to_str().unwrap(),
        "--lateness",
        "0s",
    ]);
    assert_eq!(
        server
            .deliver(&issued("e1", "2026-03-07T14:00:00Z", IMPERSONATION))
            .0,
        200
    );
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(
            received
                .recv_timeout(Duration::from_secs(20))
                .expect("the sink is tried again"),
        );
    }
    assert!(
        seen.iter()
            .all(|b| b.contains("\"rule\":\"impersonation-admin-scope\""))
    );
    wait_for("the delivery to be counted", || {
        server
            .get("/metrics")
            .contains("tokenwatch_sink_delivered_total 1")
    });
    assert!(
        server
            .get("/metrics")
            .contains("tokenwatch_sink_failures_total 2")
    );
    server.stop();
    assert!(!spool.exists(), "nothing was spooled");
}

#[test]
fn a_failing_sink_spools_and_never_blocks_ingestion() {
    let (url, _received) = receiver(usize::MAX);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool.ndjson");
    let server = Server::start(&[
        "--sink-webhook",
        &url,
        "--spool",
        spool.to_str().unwrap(),
        "--lateness",
        "0s",
    ]);
    let started = Instant::now();
    for i in 0..20 {
        let body = issued(&format!("e{i}"), "2026-03-07T14:00:00Z", IMPERSONATION);
        assert_eq!(server.deliver(&body).0, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ingestion waited for the sink"
    );
    server.stop();
    let spooled = std::fs::read_to_string(&spool).expect("undelivered findings are kept");
    assert_eq!(spooled.lines().count(), 20, "{spooled}");
}

#[test]
fn a_state_file_that_cannot_be_written_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("missing-directory").join("state.json");
    let output = Command::new(env!("CARGO_BIN_EXE_tokenwatch"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .env("TOKENWATCH_WEBHOOK_SECRET", SECRET)
        .output()
        .expect("tokenwatch runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot save state"), "{stderr}");
}

#[test]
fn a_hanging_sink_does_not_hold_up_shutdown() {
    // An endpoint that accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool.ndjson");
    let server = Server::start(&["--sink-webhook", &url, "--spool", spool.to_str().unwrap()]);
    for i in 0..8 {
        let body = issued(&format!("e{i}"), "2026-03-07T14:00:00Z", IMPERSONATION);
        assert_eq!(server.deliver(&body).0, 200);
    }
    // One delivery hangs until its timeout (10 s); the rest are spooled
    // once the drain grace (5 s) is over, not each after its own timeout.
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let spooled = std::fs::read_to_string(&spool).expect("undelivered findings are kept");
    assert_eq!(spooled.lines().count(), 8, "{spooled}");
}

#[test]
fn reload_refuses_broken_rules_and_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (server, rules, output) = with_rules(
        dir.path(),
        "id: cc\ntitle: Client credentials\nseverity: low\nmatch:\n  s:\n    data.grantType: client_credentials\n",
        &["--lateness", "0s"],
    );
    assert_eq!(server.post("/admin/reload", b"", None).0, 401);
    std::fs::write(
        &rules,
        "id: cc\ntitle: Broken\nseverity: hgih\nmatch:\n  s:\n    data.grantTyp: x\n",
    )
    .unwrap();
    let (status, text) = server.post("/admin/reload", b"", Some(&sign(SECRET.as_bytes(), b"")));
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("unknown severity"), "{text}");
    server.deliver(&issued("e1", "2026-03-07T14:00:00Z", "client_credentials"));
    wait_for("the old rule to fire", || {
        std::fs::read_to_string(&output).is_ok_and(|t| t.contains("\"rule\":\"cc\""))
    });
    std::fs::write(
        &rules,
        "id: imp\ntitle: Impersonation\nseverity: low\nmatch:\n  s:\n    data.grantType: urn:qlik:oauth:user-impersonation\n",
    )
    .unwrap();
    let (status, text) = server.post("/admin/reload", b"", Some(&sign(SECRET.as_bytes(), b"")));
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"rules":1,"status":"reloaded"}"#)
    );
    server.deliver(&issued("e2", "2026-03-07T14:01:00Z", IMPERSONATION));
    wait_for("the new rule to fire", || {
        std::fs::read_to_string(&output).is_ok_and(|t| t.contains("\"rule\":\"imp\""))
    });
    server.stop();
}
