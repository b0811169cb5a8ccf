//! `scripts/bench-widget`: the bytes of everything the widget page loads as a release server sends them
//! (`Accept-Encoding: br`, as browsers ask; gzip and raw beside), and the time from the host page's `open()` to the
//! first integration list on screen in headless Chromium — first open with a cold cache, then the median of 20 —
//! without and with `preload`.
//! A benchmark, not a test: it prints numbers and judges nothing. With `BENCH_TABLE=<file>` it also appends one
//! line per headline number to that file: `what<TAB>now<TAB>goal`.

use std::io::Write;

use flate2::{write::GzEncoder, Compression};
use plugboard_tests::{spawn_app, spawn_host, Browser};

const RUNS: usize = 20;

fn gzipped(bytes: &[u8]) -> usize {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(bytes).expect("in-memory write");
    enc.finish().expect("in-memory gzip").len()
}

fn kb(n: usize) -> String {
    format!("{:.1} KB", n as f64 / 1000.0)
}

/// Bytes on the wire of `url` when the client accepts `encoding` (nothing decoded).
async fn wire(client: &reqwest::Client, url: &str, encoding: &str) -> usize {
    let res = client.get(url).header("accept-encoding", encoding).send().await.expect("the server answers");
    assert!(res.status().is_success(), "{url}: {}", res.status());
    res.bytes().await.expect("a body").len()
}

/// The wasm, js and css the widget page loads, each as served raw, gzip and br; answers the br total and the gzip
/// total.
async fn sizes(base: &str) -> (usize, usize) {
    let client = reqwest::Client::builder().no_gzip().no_brotli().no_deflate().build().expect("client");
    let index = client.get(format!("{base}/widget")).send().await.expect("/widget").text().await.expect("the page");
    let mut files: Vec<&str> = index
        .split(['\'', '"', ' ', '=', '>'])
        .filter(|s| s.starts_with("/widget/") && [".js", ".wasm", ".css"].iter().any(|e| s.ends_with(e)))
        .collect();
    files.sort_unstable();
    files.dedup();
    println!("{:<48} {:>10} {:>10} {:>10}", "widget file, as served", "raw", "gzip", "br");
    let (mut br_total, mut gz_total, mut raw_total) = (0, 0, 0);
    for f in &files {
        let url = format!("{base}{f}");
        let (raw, gz, br) = (wire(&client, &url, "identity").await, wire(&client, &url, "gzip").await, wire(&client, &url, "br").await);
        (raw_total, gz_total, br_total) = (raw_total + raw, gz_total + gz, br_total + br);
        println!("{:<48} {:>10} {:>10} {:>10}", f.trim_start_matches("/widget/"), kb(raw), kb(gz), kb(br));
    }
    println!("{:<48} {:>10} {:>10} {:>10}   (goal: br ≤ 80 KB)", "total (wasm + js + css)", kb(raw_total), kb(gz_total), kb(br_total));
    (br_total, gz_total)
}

/// `open()` → first list painted on the demo host page at `page`: (first open with a cold cache, warm opens sorted).
async fn open_times(page: &str, wait_before_click: std::time::Duration) -> (f64, Vec<f64>) {
    let b = Browser::start().await;
    let mut times = Vec::new();
    for _ in 0..=RUNS {
        b.client.goto(page).await.expect("host page loads");
        tokio::time::sleep(wait_before_click).await;
        b.js("document.getElementById('connect').click(); return 1").await;
        let opened = b
            .wait_js("open mark", "const m = performance.getEntriesByName('plugboard:open').pop(); return m && performance.timeOrigin + m.startTime")
            .await
            .as_f64()
            .expect("a number");
        b.enter_widget().await;
        let painted = b
            .wait_js("list mark", "const m = performance.getEntriesByName('plugboard:list-painted')[0]; return m && performance.timeOrigin + m.startTime")
            .await
            .as_f64()
            .expect("a number");
        b.leave_widget().await;
        times.push(painted - opened);
    }
    b.close().await;
    let cold = times.remove(0);
    times.sort_by(f64::total_cmp);
    (cold, times)
}

/// The `q` quantile of sorted `times` (nearest rank).
fn pick(times: &[f64], q: f64) -> f64 {
    times[((times.len() - 1) as f64 * q).round() as usize]
}

fn report(what: &str, (cold, warm): &(f64, Vec<f64>)) {
    let pick = |q: f64| pick(warm, q);
    println!(
        "{what}: cold cache {cold:.0} ms; {RUNS} warm: median {:.0} ms, p90 {:.0} ms, min {:.0} ms, max {:.0} ms",
        pick(0.5),
        pick(0.9),
        warm[0],
        warm[warm.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    let (br, gz) = sizes(&app.url).await;
    // As served (minified at build time), gzipped here at level 9.
    let embed = reqwest::get(format!("{}/embed.js", app.url)).await.expect("/embed.js").bytes().await.expect("a body");
    let embed_gz = gzipped(&embed);
    println!("{:<48} {:>10} {:>10}   (goal ≤ 3 KB gzip)", "embed.js as served (host page)", kb(embed.len()), kb(embed_gz));

    let host = spawn_host(&app).await;
    println!();
    let plain = open_times(&host, std::time::Duration::ZERO).await;
    report("open() → first list painted (default: widget loaded hidden by create(), clicked at page load)", &plain);
    // A host page that lets embed.js preload (token and widget with the page); the user clicks a moment later.
    let preloaded = open_times(&format!("{host}/?preload"), std::time::Duration::from_millis(500)).await;
    report("open() → first list painted, with preload (click 0.5 s after load)", &preloaded);

    if let Some(path) = std::env::var_os("BENCH_TABLE") {
        let lines = [
            ("widget bytes on the wire (br)".to_string(), kb(br), "≤ 80 KB".to_string()),
            ("widget bytes on the wire (gzip)".to_string(), kb(gz), "—".to_string()),
            ("embed.js as served (minified), gzip level 9".to_string(), kb(embed_gz), "≤ 3 KB".to_string()),
            (
                "open() → list painted (default: the widget loaded hidden by create(), token at open()), cold / warm median".to_string(),
                format!("{:.0} ms / {:.0} ms", plain.0, pick(&plain.1, 0.5)),
                "≤ 120 / ≤ 60 ms".to_string(),
            ),
            (
                "open() → list painted with `preload: true` (token too), cold / warm median".to_string(),
                format!("{:.0} ms / {:.0} ms", preloaded.0, pick(&preloaded.1, 0.5)),
                "—".to_string(),
            ),
        ];
        let mut table = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("BENCH_TABLE names a writable file");
        for (what, now, goal) in lines {
            writeln!(table, "{what}\t{now}\t{goal}").expect("append to BENCH_TABLE");
        }
    }
}
