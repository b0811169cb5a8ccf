//! `scripts/bench-widget`: prints the gzipped size of everything the widget loads, and the time from the host
//! page's `open()` to the first integration list on screen, over 20 opens in headless Chromium.
//! A benchmark, not a test: it prints numbers and judges nothing.

use std::{io::Write, path::Path};

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

fn sizes(dist: &Path) -> usize {
    let index = std::fs::read_to_string(dist.join("index.html")).expect("dist/index.html: run scripts/build-widget");
    let mut files: Vec<String> = index
        .split(['\'', '"'])
        .filter(|s| s.starts_with("/widget/") && [".js", ".wasm", ".css"].iter().any(|e| s.ends_with(e)))
        .map(|s| s.trim_start_matches("/widget/").to_owned())
        .collect();
    files.sort();
    files.dedup();
    println!("{:<48} {:>10} {:>10}", "widget file", "raw", "gzip (9)");
    let mut total = 0;
    for f in &files {
        let bytes = std::fs::read(dist.join(f)).expect("a file index.html names");
        let gz = gzipped(&bytes);
        total += gz;
        println!("{f:<48} {:>10} {:>10}", kb(bytes.len()), kb(gz));
    }
    println!("{:<48} {:>10} {:>10}   (budget 120 KB)", "total (wasm + js + css)", "", kb(total));
    let embed = include_bytes!("../../../server/assets/embed.js");
    println!("{:<48} {:>10} {:>10}   (budget 3 KB)", "embed.js (host page)", kb(embed.len()), kb(gzipped(embed)));
    total
}

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    sizes(&root.join("dist"));

    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    let mut times = Vec::new();
    for run in 0..=RUNS {
        b.client.goto(&host).await.expect("host page loads");
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
        let ms = painted - opened;
        if run == 0 {
            println!("\nopen() → first list painted, cold cache: {ms:.0} ms");
        } else {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "open() → first list painted, {RUNS} warm runs: median {:.0} ms, p90 {:.0} ms, min {:.0} ms, max {:.0} ms   (budget 400 ms median)",
        pick(0.5),
        pick(0.9),
        times[0],
        times[times.len() - 1]
    );
    b.close().await;
}
