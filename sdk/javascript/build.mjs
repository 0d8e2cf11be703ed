// Build an AirsSys component from JavaScript with componentize-js (called through its API).
//
//   node build.mjs <source.js> <wit dir> <out.wasm> [--world NAME] [--debug]
//
// e.g. node build.mjs app.js wit app.wasm
//
// - World `component` of `airssys:component@0.2.0` (--world upgradable for that one).
// - componentize-js's default features, all on: stdio (console.log, into the host's logs),
//   random, clocks, and `http` / `fetch-event` (the component imports wasi:http, which the
//   host serves: `fetch` reaches the hosts the component's network grants allow).
// - AOT (weval) stays off: it would download a binary at build time.
// - The source may import other modules by relative path ('./airssys.js', './lib/util.js'),
//   from its own directory or below: the build runs in that directory, which componentize-js
//   shows the engine as `/`. When the source imports './airssys.js' and there is none beside
//   it, the SDK's airssys.js (the one beside this script) is used: the source's directory is
//   copied to a temporary one (without node_modules and dot entries) with it added.
//
// Needs node >= 18 and `npm install` in the directory of the package.json that comes with this
// script (@bytecodealliance/componentize-js 0.23.0 and @bytecodealliance/preview2-shim 0.26.1).
// A build takes about 10 s of CPU and writes a component of about 12 MB.

import { copyFile, cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = 'usage: node build.mjs <source.js> <wit dir> <out.wasm> [--world NAME] [--debug]';

function die(message, code = 1) {
  console.error(`build.mjs: ${message}`);
  process.exit(code);
}

// ---- arguments
const positional = [];
let worldName = 'component';
let debugBuild = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--world') worldName = argv[++i] ?? die(USAGE, 2);
  else if (a === '--debug') debugBuild = true;
  else if (a === '-h' || a === '--help') {
    console.log(USAGE);
    process.exit(0);
  } else if (a.startsWith('--')) die(`unknown option ${a}\n${USAGE}`, 2);
  else positional.push(a);
}
if (positional.length !== 3) die(USAGE, 2);
const [sourceArg, witArg, outArg] = positional;

const major = Number(process.versions.node.split('.')[0]);
if (major < 18) die(`node ${process.versions.node} is too old: componentize-js needs node 18 or newer`);

const source = resolve(sourceArg);
const witPath = resolve(witArg);
const out = resolve(outArg);
if (!existsSync(source)) die(`no source file ${source}`);
if (!existsSync(witPath)) die(`no WIT at ${witPath} (the directory holding airssys.wit)`);
if (!existsSync(dirname(out))) die(`the output directory ${dirname(out)} does not exist`);

// ---- the toolchain (resolved from a node_modules beside this script or above it; ES modules
// ignore NODE_PATH)
async function load(name) {
  try {
    return await import(name);
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') {
      die(
        `cannot load ${name}: run \`npm install\` in the directory of this script's package.json ` +
          `(${dirname(fileURLToPath(import.meta.url))})\n  (${e.message.split('\n')[0]})`,
      );
    }
    throw e;
  }
}
const { componentize } = await load('@bytecodealliance/componentize-js');
const wasiFs = await load('@bytecodealliance/preview2-shim/filesystem');

// componentize-js runs its WIT splicer as a component under @bytecodealliance/preview2-shim and
// reads the WIT through that shim's WASI filesystem. preview2-shim 0.26 starts with no
// preopens, and every WIT path then fails with "No such file or directory (os error 44)":
// preopen `/`. (This is the module instance componentize-js imports, as long as one copy of
// preview2-shim is installed, at the top of node_modules.)
if (typeof wasiFs._setPreopens === 'function' && wasiFs._getPreopens?.().length === 0) {
  wasiFs._setPreopens({ '/': '/' });
}

// ---- ./airssys.js
const sdkCopy = join(dirname(fileURLToPath(import.meta.url)), 'airssys.js');
const text = await readFile(source, 'utf8');
const importsSdk = /(?:from|import)\s*\(?\s*['"]\.\/airssys\.js['"]/.test(text);
let buildDir = dirname(source);
let staged;
if (importsSdk && !existsSync(join(buildDir, 'airssys.js'))) {
  if (!existsSync(sdkCopy)) die(`${basename(source)} imports ./airssys.js, which is neither beside it nor beside build.mjs`);
  staged = await mkdtemp(join(tmpdir(), 'airssys-js-'));
  await cp(buildDir, staged, {
    recursive: true,
    filter: (p) => {
      const name = basename(p);
      return p === buildDir || (name !== 'node_modules' && !name.startsWith('.') && !name.endsWith('.wasm'));
    },
  });
  await copyFile(sdkCopy, join(staged, 'airssys.js'));
  buildDir = staged;
  console.log(`build.mjs: using the SDK's airssys.js (${sdkCopy})`);
}

// componentize-js maps the current directory (when the source is below it) or the source's
// directory to `/` for the engine; run in the source's directory so that relative imports
// resolve the same way wherever the build is started from.
process.chdir(buildDir);

const started = Date.now();
let result;
try {
  result = await componentize({
    sourcePath: join(buildDir, basename(source)),
    witPath,
    worldName,
    enableAot: false,
    debugBuild,
  });
} catch (e) {
  if (staged) await rm(staged, { recursive: true, force: true });
  let detail = e?.message ?? String(e);
  if (detail.startsWith('failed to parse JS source')) detail += await syntaxErrors(source);
  die(`componentize-js failed for ${source} (world ${worldName}, WIT ${witPath}):\n${detail}`);
}
if (staged) await rm(staged, { recursive: true, force: true });

await writeFile(out, result.component);
const size = (await stat(out)).size;
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`${outArg}: ${size} bytes (${(size / 1e6).toFixed(1)} MB), built in ${seconds} s (world ${worldName})`);

// componentize-js says only how many syntax errors it found; show them, with oxc-parser (one
// of its dependencies), when it can be loaded.
async function syntaxErrors(file) {
  try {
    const mod = await import('oxc-parser');
    const oxc = mod.default ?? mod;
    const { errors } = oxc.parseSync(basename(file), await readFile(file, 'utf8'), { sourceType: 'module' });
    return errors.map((x) => x.codeframe ?? `\n  ${x.message}`).join('');
  } catch (_) {
    return '';
  }
}
