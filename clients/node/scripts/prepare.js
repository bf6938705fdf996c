// npm's "prepare": build dist/src from the TypeScript in src/. npm runs it on `npm ci` here, before
// `npm pack` (so a tarball holds the built files), and when another project installs this folder
// (`npm install path/to/clients/node`). In that last case the folder may never have had an install
// of its own: TypeScript (a devDependency, pinned by package-lock.json) is installed first.
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const dir = path.resolve(__dirname, "..");
const tsc = path.join(dir, "node_modules", "typescript", "bin", "tsc");

if (!fs.existsSync(tsc)) {
  const npm = process.env.npm_execpath; // the npm that runs this script
  const [cmd, pre] = npm && npm.endsWith(".js") ? [process.execPath, [npm]] : ["npm", []];
  execFileSync(cmd, [...pre, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    stdio: "inherit",
  });
}
execFileSync(process.execPath, [tsc, "-p", path.join(dir, "tsconfig.build.json")], { stdio: "inherit" });
