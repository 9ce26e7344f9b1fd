// tests/clients/jupyter_env.cjs: throw-away Jupyter homes (kernelspec, nbextension), a Jupyter server on 127.0.0.1, teardown.
// Must not know what the tests check, nor anything of ripple beyond `ripple-kernel install` and the extension's folder.
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const PYTHON = '/usr/bin/python3';  // Debian's Python: the one with Jupyter's packages
const REPO = path.resolve(__dirname, '..', '..');

function buildDir() {
  const dir = process.env.RIPPLE_BUILD_DIR || path.join(REPO, 'build');
  const kernel = path.join(dir, 'bin', 'ripple-kernel');
  if (!fs.existsSync(kernel)) throw new Error(`no kernel at ${kernel}: build first or set RIPPLE_BUILD_DIR`);
  return dir;
}

// Temp HOME and Jupyter dirs so nothing is read from or leaks into the user's own; the ripple kernelspec points at
// this build's binary. With { nbextension: true } the classic Notebook extension is installed and enabled there.
function makeJupyterHome({ nbextension = false } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ripple-clients-'));
  const dirs = {};
  for (const name of ['home', 'config', 'data', 'runtime', 'prefix', 'xdg-data', 'xdg-cache', 'notebooks']) {
    dirs[name] = path.join(root, name);
    fs.mkdirSync(dirs[name]);
  }
  const env = {
    ...process.env,
    HOME: dirs.home,
    JUPYTER_CONFIG_DIR: dirs.config,
    JUPYTER_DATA_DIR: dirs.data,
    JUPYTER_RUNTIME_DIR: dirs.runtime,
    JUPYTER_PATH: path.join(dirs.prefix, 'share', 'jupyter'),
    IPYTHONDIR: path.join(dirs.home, '.ipython'),
    XDG_DATA_HOME: dirs['xdg-data'],
    XDG_CACHE_HOME: dirs['xdg-cache'],
    PYTHONNOUSERSITE: '1',
  };
  delete env.JUPYTER_CONFIG_PATH;
  const home = { root, dirs, env };
  try {
    execFileSync(path.join(buildDir(), 'bin', 'ripple-kernel'), ['install', '--prefix', dirs.prefix], { env, stdio: 'pipe' });
    if (nbextension) {
      const run = (...args) => execFileSync(PYTHON, ['-m', 'notebook.nbextensions', ...args], { env, stdio: 'pipe' });
      run('install', '--user', path.join(REPO, 'share', 'nbextension', 'ripple'));
      run('enable', '--user', 'ripple/main');
    }
  } catch (error) {
    removeHome(home);
    throw new Error(`setting up a Jupyter home failed: ${error.message}\n${error.stderr || ''}`);
  }
  return home;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Starts `python3 -m <module>` (notebook or jupyter_server) on 127.0.0.1 with a token; resolves when /api/status answers.
async function startServer(home, { module = 'notebook', notebookDir = home.dirs.notebooks, timeoutMs = 60000 } = {}) {
  const port = await freePort();
  const token = crypto.randomBytes(16).toString('hex');
  const app = module === 'notebook' ? 'NotebookApp' : 'ServerApp';
  const logFile = path.join(home.root, `${module}.log`);
  const log = fs.openSync(logFile, 'w');
  const args = ['-m', module, '--no-browser', '--ip=127.0.0.1', `--port=${port}`, `--${app}.port_retries=0`,
    `--${app}.token=${token}`, `--${app}.notebook_dir=${notebookDir}`];
  if (process.getuid() === 0) args.push('--allow-root');  // CI runs as root
  const proc = spawn(PYTHON, args, { env: home.env, cwd: notebookDir, stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  const server = { proc, port, token, logFile, home, url: `http://127.0.0.1:${port}`, exited: false };
  proc.on('exit', () => { server.exited = true; });
  running.add(server);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exited) throw new Error(`${module} exited at start:\n${fs.readFileSync(logFile, 'utf8')}`);
    try {
      const res = await fetch(`${server.url}/api/status?token=${token}`);
      if (res.ok) return server;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stopServer(server);
      throw new Error(`${module} did not answer on ${server.url} within ${timeoutMs} ms:\n${fs.readFileSync(logFile, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// Kernels run in their own session (jupyter_client starts them so); find ours by their connection file in our runtime dir.
function kernelPids(home) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(home.dirs.runtime)) pids.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

async function waitGone(pids, ms) {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(alive);
}

// Servers not stopped yet: killed when this process ends anyway (a failed assertion, ctest's timeout signal).
const running = new Set();
function killNow(server) {
  if (!server.exited) { try { process.kill(-server.proc.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const pid of kernelPids(server.home)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', () => { for (const server of running) killNow(server); });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => { process.exitCode = 1; process.exit(); });
}

// SIGTERM lets the server shut its kernels down; whatever is left after a few seconds is killed.
async function stopServer(server) {
  if (!server) return;
  running.delete(server);
  if (!server.exited) {
    try { process.kill(-server.proc.pid, 'SIGTERM'); } catch { /* already gone */ }
    const left = await waitGone([server.proc.pid], 10000);
    if (left.length) { try { process.kill(-server.proc.pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  const kernels = kernelPids(server.home);
  for (const pid of kernels) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  for (const pid of await waitGone(kernels, 5000)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

function removeHome(home) {
  if (home && !process.env.RIPPLE_KEEP_TEMP) fs.rmSync(home.root, { recursive: true, force: true });
}

module.exports = { REPO, PYTHON, buildDir, makeJupyterHome, startServer, stopServer, removeHome, kernelPids };
