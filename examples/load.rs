//! A bounded loopback load test of the webhook service: starts the server
//! in-process on 127.0.0.1, sends signed deliveries over keep-alive
//! connections, and reports deliveries per second and latency percentiles.
//!
//! ```sh
//! cargo run --release --example load -- [DELIVERIES] [CONNECTIONS]
//! ```
//!
//! It stops after DELIVERIES (default 200,000) or 60 seconds, whichever
//! comes first, and sends to loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokenwatch::server::signature::sign;
use tokenwatch::server::{self, Config, RuleLoader};
use tokenwatch::{Options, loader};

const SECRET: &[u8] = b"load-test-secret";
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let mut args = std::env::args().skip(1);
    let deliveries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    let output =
        std::env::temp_dir().join(format!("tokenwatch-load-{}.ndjson", std::process::id()));
    let config = Config {
        rules: RuleLoader(Arc::new(|| Ok(loader::builtin()))),
        secret: SECRET.to_vec(),
        output: Some(output.clone()),
        state: None,
        errors: None,
        sink_webhook: None,
        spool: std::env::temp_dir().join("tokenwatch-load-spool.ndjson"),
        body_limit: 1 << 20,
        checkpoint_every: Duration::from_secs(3600),
        limits: server::Limits {
            connections: server::MAX_CONNECTIONS as usize,
            idle: Duration::from_secs(30),
            request: Duration::from_secs(60),
        },
        options: Options::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (_reload, reloads) = tokio::sync::mpsc::channel(1);
    let server = runtime.spawn(server::serve(
        config,
        listener,
        async {
            let _ = stopped.await;
        },
        reloads,
    ));

    let started = Instant::now();
    let per_connection = deliveries / connections;
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            thread::spawn(move || {
                let mut client = Client::connect(address);
                let mut latencies = Vec::with_capacity(per_connection);
                for i in 0..per_connection {
                    if started.elapsed() > TIME_LIMIT {
                        break;
                    }
                    let body = event(c, i);
                    let request = format!(
                        "POST /webhook HTTP/1.1\r\nHost: {address}\r\nQlik-Signature: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        sign(SECRET, body.as_bytes()),
                        body.len()
                    );
                    let sent = Instant::now();
                    let status = client.exchange(request.as_bytes());
                    latencies.push(sent.elapsed());
                    assert_eq!(status, 200, "delivery refused");
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("client thread"))
        .collect();
    let elapsed = started.elapsed();
    let _ = stop.send(());
    runtime
        .block_on(server)
        .expect("server task")
        .expect("server");
    let _ = std::fs::remove_file(&output);
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{} deliveries over {connections} keep-alive connections in {:.2}s: {:.0} deliveries/s; latency p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pick(0.50),
        pick(0.99),
        latencies.last().copied().unwrap_or_default()
    );
}

/// A minimal HTTP/1.1 client on one keep-alive connection: each request
/// goes out in one write, so the measurement is the server's, not the
/// client's.
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    fn connect(address: SocketAddr) -> Client {
        let stream = TcpStream::connect(address).expect("connect to loopback");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream: BufReader::new(stream),
        }
    }

    /// Sends a whole request and reads the response; returns its status.
    fn exchange(&mut self, request: &[u8]) -> u16 {
        self.stream
            .get_mut()
            .write_all(request)
            .expect("send request");
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("header line");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("a content length");
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("response body");
        status
    }
}

fn event(connection: usize, i: usize) -> String {
    let second = i % 60;
    let minute = (i / 60) % 60;
    format!(
        r#"{{"id":"load-{connection}-{i}","time":"2026-03-07T14:{minute:02}:{second:02}Z","type":"com.qlik.oauth-token.issued","source":"com.qlik/edge-auth","specversion":"1.0","datacontenttype":"application/json","userid":"u{u}","authtype":"user","originip":"198.51.100.{ip}","tenantid":"TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69","sessionid":"s{u}","authclaims":"{{\"sub\":\"u{u}\"}}","data":{{"id":"t{i}","scopes":["user_default"],"appType":"web","ownerId":"u{u}","issuedAt":"2026-03-07T14:{minute:02}:{second:02}Z","tenantId":"TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69","grantType":"refresh_token","deviceType":"Dell XPS 15","resourceOwner":"u{u}","issuedToClientId":"c{c}"}}}}"#,
        u = i % 500,
        ip = i % 250,
        c = connection,
    )
}
