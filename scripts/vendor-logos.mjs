// Copies the brand logos the catalog names into server/assets/logos/<platform>.svg, from two CC0 npm packages:
//   logo = "simple-icons:<slug>"  simple-icons (one-colour marks, coloured here with the brand's colour)
//   logo = "logos:<name>"         Gil Barbara's SVG Logos, as packaged by Iconify (@iconify-json/logos; full colour)
// Run after adding catalog entries (both packages are pinned in scripts/package.json):
//   (cd scripts && npm ci && node vendor-logos.mjs)   (npm ci with the devDependencies, as scripts/setup-test runs it)
import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const pkg = (name) => join(here, "node_modules", name);
const version = (name) => JSON.parse(readFileSync(join(pkg(name), "package.json"), "utf8")).version;

const si = JSON.parse(readFileSync(join(pkg("simple-icons"), "data/simple-icons.json"), "utf8"));
const siHex = new Map((Array.isArray(si) ? si : si.icons).map((i) => [i.slug, i.hex]));
const simpleIcon = (slug) => {
  const svg = readFileSync(join(pkg("simple-icons"), "icons", `${slug}.svg`), "utf8");
  return svg.replace("<svg ", `<svg fill="#${siHex.get(slug) ?? "444"}" `);
};

const set = JSON.parse(readFileSync(join(pkg("@iconify-json/logos"), "icons.json"), "utf8"));
const svgLogo = (name) => {
  // An alias points at a parent icon and may override its size; icons inherit the set's default size.
  let icon = set.icons[name];
  let extra = {};
  if (!icon && set.aliases?.[name]) {
    extra = set.aliases[name];
    icon = set.icons[extra.parent];
  }
  if (!icon) throw new Error(`logos:${name} is not in @iconify-json/logos`);
  const i = { left: 0, top: 0, width: set.width ?? 16, height: set.height ?? 16, ...icon, ...extra };
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${i.left} ${i.top} ${i.width} ${i.height}">${i.body}</svg>`;
};

const out = join(root, "server/assets/logos");
rmSync(out, { recursive: true, force: true }); // a renamed or removed entry leaves no orphan behind
mkdirSync(out, { recursive: true });
let n = 0;
for (const file of readdirSync(join(root, "server/catalog")).sort()) {
  const text = readFileSync(join(root, "server/catalog", file), "utf8");
  const platform = /^platform = "([^"]+)"/m.exec(text)?.[1];
  const logo = /^logo = "([^":]+):([^"]+)"/m.exec(text);
  if (!platform || !logo) continue;
  const [, source, name] = logo;
  const svg = source === "simple-icons" ? simpleIcon(name) : source === "logos" ? svgLogo(name) : null;
  if (!svg) throw new Error(`${file}: unknown logo source ${source}`);
  writeFileSync(join(out, `${platform}.svg`), svg);
  n++;
}
writeFileSync(join(out, "LICENSE.md"),
  `Brand logos from simple-icons ${version("simple-icons")} (https://simpleicons.org) and from SVG Logos by Gil Barbara\n` +
  `(https://github.com/gilbarbara/logos, via @iconify-json/logos ${version("@iconify-json/logos")}), both released under CC0 1.0.\n` +
  "The marks themselves belong to their owners and are used here only to name their services.\n");
console.log(`vendored ${n} logos`);
