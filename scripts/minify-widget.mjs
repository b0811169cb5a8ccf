// trunk's post_build hook (Trunk.toml), release builds only:
// 1. drops the wasm-streams classes that Leptos's server_fn exports (the widget calls no server functions, but
//    wasm-bindgen keeps every `#[wasm_bindgen]` export): out of the js glue, and out of the wasm with wasm-metadce;
// 2. optimises the wasm with wasm-opt (here, not by trunk, so that it runs after step 1: the exports' code only
//    becomes dead once they are gone);
// 3. minifies wasm-bindgen's js glue with esbuild (trunk's own minifier cannot parse it);
// and updates the changed files' integrity hashes in index.html to match.
import { readFileSync, readdirSync, writeFileSync, unlinkSync } from "node:fs";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { transformSync } from "esbuild";

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) throw new Error("run by trunk: TRUNK_STAGING_DIR is not set");
if (process.env.TRUNK_PROFILE !== "release") process.exit(0);
const bin = join(dirname(fileURLToPath(import.meta.url)), "node_modules", ".bin");
// -Oz, then a flatten / re-loop round and -Oz again (1.0 KB br less than -Oz alone); the module's own memory starts
// zeroed and Rust's stack sits at the bottom of it (--zero-filled-memory, --low-memory-unused).
const wasmOpt = ["-Oz", "--low-memory-unused", "--zero-filled-memory", "--flatten", "--rereloop", "-Oz", "--strip-debug", "--strip-producers"];
const sri = (bytes) => "sha384-" + createHash("sha384").update(bytes).digest("base64");
const indexPath = join(dir, "index.html");
let index = readFileSync(indexPath, "utf8");
const replace = (path, after) => {
  const before = readFileSync(path);
  writeFileSync(path, after);
  index = index.split(sri(before)).join(sri(after));
};

// The classes' blocks as wasm-bindgen writes them; anything else left naming them means the glue changed shape:
// then both files keep the exports (a warning, not a broken build).
const streamClass = /export class (IntoUnderlying\w+) \{[\s\S]*?\nif \(Symbol\.dispose\) \1\.prototype\[Symbol\.dispose\] = \1\.prototype\.free;\n/g;
const streamRegistry = /const IntoUnderlying\w+Finalization = \(typeof FinalizationRegistry === 'undefined'\)\n[^\n]*\n[^\n]*\n/g;
const isStreamExport = (name) => /^(__wbg_)?intounderlying/.test(name);

for (const name of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
  const path = join(dir, name);
  let js = readFileSync(path, "utf8");
  const stripped = js.replace(streamClass, "").replace(streamRegistry, "");
  const wasmName = name.replace(/\.js$/, "_bg.wasm");
  const wasmPath = join(dir, wasmName);
  let dropExports = false;
  if (/IntoUnderlying/.test(js) && !/IntoUnderlying|intounderlying/.test(stripped)) {
    js = stripped;
    dropExports = true;
  } else if (/IntoUnderlying/.test(js)) {
    console.warn("minify-widget: the glue's wasm-streams classes changed shape; they stay in");
  }
  if (readdirSync(dir).includes(wasmName)) {
    let input = wasmPath;
    const tmp = wasmPath + ".dce";
    if (dropExports) {
      const module = new WebAssembly.Module(readFileSync(wasmPath));
      const graph = [];
      for (const e of WebAssembly.Module.exports(module)) {
        const node = { name: `e${graph.length}`, export: e.name };
        if (!isStreamExport(e.name)) node.root = true;
        graph.push(node);
      }
      for (const i of WebAssembly.Module.imports(module)) graph.push({ name: `i${graph.length}`, import: [i.module, i.name] });
      const graphPath = wasmPath + ".graph.json";
      writeFileSync(graphPath, JSON.stringify(graph));
      execFileSync(join(bin, "wasm-metadce"), [wasmPath, "--graph-file", graphPath, "-o", tmp], { stdio: ["ignore", "ignore", "inherit"] });
      unlinkSync(graphPath);
      input = tmp;
    }
    const out = wasmPath + ".opt";
    execFileSync(join(bin, "wasm-opt"), [input, ...wasmOpt, "-o", out], { stdio: "inherit" });
    replace(wasmPath, readFileSync(out));
    unlinkSync(out);
    if (dropExports) unlinkSync(tmp);
  }
  const { code } = transformSync(js, { minify: true, format: "esm", target: "es2020", legalComments: "none" });
  replace(path, Buffer.from(code));
}
writeFileSync(indexPath, index);
