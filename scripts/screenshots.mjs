// Copies the screenshots the browser tests saved (target/screenshots: tests/tests/widget_ux.rs, pages.rs) into
// docs/screenshots and writes docs/screenshots.md, one table per screen: light and dark, 1280 and 320 px wide.
// Run after `cargo test -p plugboard-tests --test it widget_ux:: pages::`; look at them before committing.
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(root, "target", "screenshots");
const to = join(root, "docs", "screenshots");
// `<what>-<screen>-<theme>-<width>.png`: the widget's screens, and the server's sign-in pages.
const shot = /^(widget|page)-(.+)-(light|dark)-(1280|320)\.png$/;
const found = readdirSync(from).map((f) => [f, f.match(shot)]).filter(([, m]) => m);
rmSync(to, { recursive: true, force: true });
mkdirSync(to, { recursive: true });
const screens = new Map();
for (const [file, [, what, screen]] of found) {
  copyFileSync(join(from, file), join(to, file));
  const key = `${what}-${screen}`;
  if (!screens.has(key)) screens.set(key, { what, screen });
}
const cell = (name) => (found.some(([f]) => f === name) ? `<img src="screenshots/${name}" width="${name.includes("-320") ? 160 : 320}" alt="">` : "—");
let md = `# What users see

Every screen of the widget and every sign-in page, in both themes, at 1280 and 320 px wide, as the browser tests
(\`tests/tests/widget_ux.rs\`, \`tests/tests/pages.rs\`) last saw them; each of them also passed axe-core (WCAG 2.2 AA)
and a check of control contrast (WCAG 1.4.11). \`node scripts/screenshots.mjs\` refreshes this page after a test run.

`;
for (const what of ["widget", "page"]) {
  md += what === "widget" ? "## The widget\n\n" : "## Sign-in pages (the OAuth window, the link's last page)\n\n";
  for (const { screen } of [...screens.values()].filter((s) => s.what === what).sort((a, b) => a.screen.localeCompare(b.screen))) {
    md += `### ${screen.replace(/-/g, " ")}\n\n| light, 1280 | dark, 1280 | light, 320 | dark, 320 |\n| --- | --- | --- | --- |\n`;
    md += `| ${["light-1280", "dark-1280", "light-320", "dark-320"].map((v) => cell(`${what}-${screen}-${v}.png`)).join(" | ")} |\n\n`;
  }
}
writeFileSync(join(root, "docs", "screenshots.md"), md);
console.log(`${found.length} screenshots in docs/screenshots`);
