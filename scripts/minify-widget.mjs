// trunk's post_build hook (Trunk.toml), release builds only:
// 1. drops the wasm-streams classes that Leptos's server_fn exports (the widget calls no server functions, but
//    wasm-bindgen keeps every `#[wasm_bindgen]` export): out of the js glue, and out of the wasm with wasm-metadce;
// 2. optimises the wasm with wasm-opt (here, not by trunk, so that it runs after step 1: the exports' code only
//    becomes dead once they are gone);
// 3. renames the wasm's imports and exports to one or two letters (binaryen's minify-imports-and-exports-and-modules),
//    in the js glue too: wasm-bindgen names each import `__wbg_<name>_<16 hex digits>`, and those digits, which
//    brotli cannot shrink, were in both files (3.6 KB br of the two);
// 4. minifies wasm-bindgen's js glue with esbuild (trunk's own minifier cannot parse it);
// and updates the changed files' integrity hashes in index.html to match.
import { existsSync, readFileSync, readdirSync, writeFileSync, unlinkSync } from "node:fs";
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

// The glue with the names `wasm-opt --minify-imports-and-exports-and-modules` gave (`names`: its JSON, `imports`
// as [module, name, new name], `exports` as [name, new name]; `module`: the one import module the renamed wasm has),
// or null when the glue is not as expected: one import module, whose object (`import0`) has each import as a
// `name: function(` key, and exports read as `wasm.name`.
const escape = (s) => s.replace(/[$]/g, "\\$");
function renameInGlue(js, names, module) {
  const modules = new Set(names.imports.map(([module]) => module));
  if (modules.size !== 1 || typeof module !== "string") return null;
  const moduleKey = `${JSON.stringify([...modules][0])}: import0`;
  if (js.split(moduleKey).length !== 2) return null;
  js = js.replace(moduleKey, `${JSON.stringify(module)}: import0`);
  for (const [, name, short] of names.imports) {
    const key = new RegExp(`(\\n\\s*)${escape(name)}(?=: function\\()`, "g");
    if (js.match(key)?.length !== 1) return null;
    js = js.replace(key, (_, indent) => indent + short);
  }
  for (const [name, short] of names.exports) js = js.replace(new RegExp(`\\bwasm\\.${escape(name)}\\b`, "g"), `wasm.${short}`);
  // Nothing may still use an old name.
  if (names.imports.some(([, name]) => js.includes(name))) return null;
  if (names.exports.some(([name]) => new RegExp(`\\bwasm\\.${escape(name)}\\b`).test(js))) return null;
  return js;
}

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
    const short = wasmPath + ".min";
    let renamed = null;
    try {
      const names = JSON.parse(execFileSync(join(bin, "wasm-opt"), [out, "--minify-imports-and-exports-and-modules", "-o", short], { encoding: "utf8" }));
      const modules = new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(short))).map((i) => i.module));
      renamed = modules.size === 1 ? renameInGlue(js, names, [...modules][0]) : null;
    } catch (e) {
      console.warn(`minify-widget: renaming the imports and exports failed (${e.message})`);
    }
    if (renamed) {
      js = renamed;
      replace(wasmPath, readFileSync(short));
    } else {
      console.warn("minify-widget: the glue's imports or exports changed shape; the wasm keeps its long names");
      replace(wasmPath, readFileSync(out));
    }
    if (existsSync(short)) unlinkSync(short);
    unlinkSync(out);
    if (dropExports) unlinkSync(tmp);
  }
  const { code } = transformSync(js, { minify: true, format: "esm", target: "es2020", legalComments: "none" });
  replace(path, Buffer.from(code));
}
writeFileSync(indexPath, index);
