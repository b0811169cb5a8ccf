//! What the benchmark binaries share: wrk runs and their numbers, free ports, a process's memory, and the row each
//! headline number adds to `scripts/bench`'s table. Benchmarks print numbers; nothing here asserts a time.

use std::{
    io::Write,
    net::{SocketAddr, TcpListener},
    process::Command,
};

/// One wrk run's numbers.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// wrk's latency figure (`812.00us`, `1.20ms`, `2.00s`) in milliseconds.
pub fn millis(s: &str) -> f64 {
    let (num, unit) = s.trim().split_at(s.trim().find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => f64::NAN,
    }
}

/// What a wrk run sends: a GET with headers, or a POST of a JSON body (through a Lua script).
pub enum Load<'a> {
    Get { headers: &'a [String] },
    PostJson { headers: &'a [String], body: &'a str },
}

/// `wrk -t2 -c<connections> -d<secs>s --latency` against `url`. Panics when any answer was not 2xx (a benchmark of
/// errors measures nothing).
pub fn wrk(url: &str, load: &Load<'_>, secs: u64, connections: u64) -> Run {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{connections}"), &format!("-d{secs}s"), "--latency"]);
    let _script;
    match load {
        Load::Get { headers } => {
            for h in *headers {
                cmd.args(["-H", h]);
            }
        }
        Load::PostJson { headers, body } => {
            let mut lua = String::from("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n");
            for h in *headers {
                let (name, value) = h.split_once(':').expect("headers are `name: value`");
                lua.push_str(&format!("wrk.headers[{:?}] = {:?}\n", name.trim(), value.trim()));
            }
            lua.push_str(&format!("wrk.body = {body:?}\n"));
            let mut file = tempfile::NamedTempFile::new().expect("a temp file");
            file.write_all(lua.as_bytes()).expect("write the wrk script");
            cmd.arg("-s").arg(file.path());
            _script = file;
        }
    }
    let out = cmd.arg(url).output().expect("wrk runs (scripts/bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx") && !text.contains("Socket errors"), "errors while benchmarking {url}:\n{text}");
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::trim).map(str::to_owned));
    Run {
        rps: field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
        p50_ms: field("50%").map(|v| millis(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| millis(&v)).unwrap_or(f64::NAN),
    }
}

pub fn free_port(ip: &str) -> SocketAddr {
    TcpListener::bind(format!("{ip}:0")).and_then(|l| l.local_addr()).expect("a free port")
}

/// Resident memory of process `pid` now and at its peak (`VmRSS`, `VmHWM` in `/proc/<pid>/status`), in MiB.
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    };
    (kb("VmRSS:").unwrap_or(f64::NAN) / 1024.0, kb("VmHWM:").unwrap_or(f64::NAN) / 1024.0)
}

/// Adds one row (`what`, the number `now`, the `goal`) to the table `scripts/bench` prints, when it runs this
/// benchmark (`BENCH_TABLE` names the file); prints it either way.
pub fn table_row(what: &str, now: &str, goal: &str) {
    println!("» {what}: {now}   (goal {goal})");
    if let Some(path) = std::env::var_os("BENCH_TABLE") {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("BENCH_TABLE opens");
        writeln!(file, "{what}\t{now}\t{goal}").expect("BENCH_TABLE written");
    }
}

/// `41200` → `41.2k`.
pub fn thousands(rps: f64) -> String {
    format!("{:.1}k", rps / 1000.0)
}
