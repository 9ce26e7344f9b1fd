// tests/clients/jupyterlab/bundle.cjs: bundles the JupyterLab 4 test front end (app/index.js) with esbuild into a folder
// (index.js + index.css) that ripple_lab_server.py serves. Must not know the tests: it only turns npm packages into a page.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

// Lab's stylesheets import each other webpack-style ('~@lumino/widgets/style/index.css'); icons are SVG files imported by
// JS as text (ui-components) and by CSS as url(): the same file needs a different loader depending on who asks.
const labAssets = {
  name: 'lab-assets',
  setup(build) {
    build.onResolve({ filter: /^~/ }, (args) => build.resolve(args.path.slice(1), { kind: args.kind, resolveDir: args.resolveDir }));
    build.onResolve({ filter: /\.svg$/ }, async (args) => {
      if (args.kind !== 'url-token' && args.kind !== 'import-rule') return undefined;
      // CSS url() paths are relative to the stylesheet unless they name a package.
      const local = path.resolve(args.resolveDir, args.path);
      const target = fs.existsSync(local) ? local
        : (await build.resolve(args.path, { kind: 'require-call', resolveDir: args.resolveDir })).path;
      if (!target) return { errors: [{ text: `cannot find ${args.path} (from ${args.importer})` }] };
      return { path: target, namespace: 'svg-url' };
    });
    build.onLoad({ filter: /.*/, namespace: 'svg-url' }, (args) => ({ contents: fs.readFileSync(args.path), loader: 'dataurl' }));
  },
};

// Writes DIR/index.js and DIR/index.css; returns DIR. Rebuilds only when the app's files or the installed npm packages
// (npm's node_modules/.package-lock.json) changed since the last bundle (DIR/bundle.stamp holds their hash).
async function bundle(outDir) {
  const esbuild = require('esbuild');
  const entry = path.join(__dirname, 'app', 'index.js');
  const appDir = path.dirname(entry);
  const modules = path.resolve(path.dirname(require.resolve('esbuild/package.json')), '..');
  const hash = crypto.createHash('sha256');
  for (const file of [...fs.readdirSync(appDir).sort().map((f) => path.join(appDir, f)), __filename,
    path.join(modules, '.package-lock.json')]) {
    hash.update(`${path.basename(file)}\0`).update(fs.existsSync(file) ? fs.readFileSync(file) : '');
  }
  const stamp = path.join(outDir, 'bundle.stamp');
  const digest = hash.digest('hex');
  const out = path.join(outDir, 'index.js');
  if (fs.existsSync(out) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === digest) return outDir;
  fs.mkdirSync(outDir, { recursive: true });
  const started = Date.now();
  await esbuild.build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome110',
    minify: false,
    sourcemap: false,
    logLevel: 'warning',
    nodePaths: (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
    define: { 'process.env.NODE_ENV': '"production"', global: 'window' },
    loader: {
      '.svg': 'text', '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.png': 'dataurl', '.gif': 'dataurl',
      '.md': 'text', '.html': 'text',
    },
    assetNames: 'assets/[name]-[hash]',
    plugins: [labAssets],
  });
  fs.writeFileSync(stamp, digest);
  console.log(`bundled the JupyterLab 4 test front end into ${outDir} in ${Date.now() - started} ms`);
  return outDir;
}

module.exports = { bundle };

if (require.main === module) {
  bundle(process.argv[2] || path.join(process.cwd(), 'lab-bundle')).catch((error) => { console.error(error); process.exit(1); });
}
