//! Copies the trunk-built widget (`../dist`) into `OUT_DIR/widget` so the binary embeds it and needs nothing
//! else at run time. Without a built widget the directory is empty and `/widget` answers a clear 503 page.
//! Its wasm, js and css also get `.br` and `.gz` siblings, compressed once here at the highest levels (too slow
//! to do per request), which `/widget/{file}` serves as the browser's `Accept-Encoding` asks.

use std::{env, fs, io::Write, path::Path};

/// Brotli at quality 11 with the largest window browsers accept (2^24), gzip at level 9.
fn precompress(file: &Path) -> std::io::Result<()> {
    let bytes = fs::read(file)?;
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 24, size_hint: bytes.len(), ..Default::default() };
    let mut br = Vec::new();
    brotli::BrotliCompress(&mut bytes.as_slice(), &mut br, &params)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes)?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    fs::write(file.with_file_name(format!("{name}.br")), br)?;
    fs::write(file.with_file_name(format!("{name}.gz")), gz.finish()?)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
            if target.extension().is_some_and(|e| e == "wasm" || e == "js" || e == "css") {
                precompress(&target)?;
            }
        }
    }
    Ok(())
}

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dist = env::var("PLUGBOARD_WIDGET_DIST")
        .map(Into::into)
        .unwrap_or_else(|_| Path::new(&manifest).join("../dist"));
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("widget");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).expect("create OUT_DIR/widget");
    if dist.join("index.html").is_file() {
        copy_dir(&dist, &out).expect("copy the built widget");
    } else {
        println!("cargo:warning=no built widget at {} (run scripts/build-widget); /widget will answer 503", dist.display());
    }
    println!("cargo:rerun-if-changed={}", dist.display());
    // include_dir! cannot tell cargo about files added to these folders; a directory here makes cargo rescan it.
    println!("cargo:rerun-if-changed=catalog");
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-env-changed=PLUGBOARD_WIDGET_DIST");
}
