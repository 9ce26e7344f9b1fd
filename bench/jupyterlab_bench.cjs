// bench/jupyterlab_bench.cjs: what a JupyterLab 4 user waits for after editing the first cell of a 50-cell notebook,
// ripple (Run on that cell; the kernel reruns its dependents) vs IRkernel (Lab's own Run All, what a Lab user does
// without ripple), in the JupyterLab 4 test front end (tests/clients/jupyterlab) in headless chromium. Prints the ratio.
//
//   NODE_PATH=build/tests/clients/npm/node_modules node bench/jupyterlab_bench.cjs [--repeats 5] [--cells 50] [--every 5]
//
// Needs the clients' npm packages (ctest -R clients.npm-ci installs them) and a built ripple. Writes
// bench/results/jupyterlab_bench.json (every sample). Timed in the page: from the Run command to the animation frame in
// which every downstream cell's output shows the new value (Lab's DOM, polled once per frame).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const env = require('../tests/clients/jupyter_env.cjs');
const { launchBrowser, startLabServer, LabPage } = require('../tests/clients/jupyterlab/lab_page.cjs');

const IRKERNEL_ARGV = ['R', '--slave', '-e', 'IRkernel::main()', '--args', '{connection_file}'];  // tests/kernel/kernel_env.py

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const REPEATS = option('repeats', 5);
const CELLS = option('cells', 50);
const EVERY = option('every', 5);      // every EVERY-th cell reads n: its downstream set
const SLEEP_S = option('sleep', 0.05);  // each cell's own work

// Cell 1 defines n; cells 2..CELLS each do SLEEP_S of work; every EVERY-th one reads n and prints n * i with cat()
// (both kernels show that as plain text; a printed value would be HTML in IRkernel's output).
function notebook(kernel) {
  const cells = [{ source: 'n <- 1' }];
  for (let i = 2; i <= CELLS; i++) {
    cells.push({ source: i % EVERY === 0 ? `d${i} <- n * ${i}\nSys.sleep(${SLEEP_S})\ncat("d${i} =", d${i}, "\\n")` : `s${i} <- ${i}\nSys.sleep(${SLEEP_S})\ns${i}` });
  }
  const display = kernel === 'ripple' ? 'R (ripple)' : 'R (IRkernel)';
  return {
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: kernel, display_name: display, language: 'R' }, language_info: { name: 'R' } },
    cells: cells.map((c, i) => ({ cell_type: 'code', id: `bench-${i + 1}`, metadata: {}, execution_count: null, outputs: [], source: c.source })),
  };
}
const DOWNSTREAM = [];
for (let i = 2; i <= CELLS; i++) if (i % EVERY === 0) DOWNSTREAM.push(i - 1);  // cell indices that read n

// Edits cell 1 to n <- value, then runs `command` in the page and returns the ms until every downstream output shows n * i.
async function timedEdit(lab, value, command) {
  await lab.typeInto('n <- ', `n <- ${value}`);
  const replies = await lab.replies();
  const expected = DOWNSTREAM.map((index) => ({ index, text: `d${index + 1} = ${value * (index + 1)}` }));
  await lab.page.evaluate((cmd) => {
    window.benchT0 = performance.now();
    void window.rippleLab.commands.execute(cmd);
  }, command);
  let ms;
  try {
    const handle = await lab.page.waitForFunction((want) => {
      const widgets = window.rippleLab.panel.content.widgets;
      const done = want.every(({ index, text }) => [...widgets[index].node.querySelectorAll('.jp-OutputArea-output')]
        .some((o) => o.textContent.trim() === text));
      return done ? performance.now() - window.benchT0 : false;
    }, expected, { polling: 'raf', timeout: Number(process.env.BENCH_TIMEOUT_MS || 300000) });
    ms = await handle.jsonValue();
  } catch (error) {
    const shown = await lab.page.evaluate((want) => want.map(({ index, text }) => `cell ${index + 1}: want ${text}, shows ` +
      JSON.stringify([...window.rippleLab.panel.content.widgets[index].node.querySelectorAll('.jp-OutputArea-output')]
        .map((o) => o.textContent))), expected);
    throw new Error(`${command} after n <- ${value}: ${error.message}\n${shown.join('\n')}\ncell 1: ${await lab.output('n <- ')}`);
  }
  // Let the run finish (Run All goes on to the last cell; ripple's request ends after its reruns) before the next one.
  await lab.waitReplies(replies + (command === 'notebook:run-all-cells' ? CELLS : 1));
  await lab.waitIdle();
  return ms;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function commit() {
  try {
    const head = execFileSync('git', ['-C', env.REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', env.REPO, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
    return dirty ? `${head}+changes` : head;
  } catch { return 'unknown'; }
}

async function main() {
  const home = env.makeJupyterHome();
  const irDir = path.join(home.dirs.prefix, 'share', 'jupyter', 'kernels', 'ir');
  fs.mkdirSync(irDir, { recursive: true });
  fs.writeFileSync(path.join(irDir, 'kernel.json'), JSON.stringify({ argv: IRKERNEL_ARGV, display_name: 'R (IRkernel)', language: 'R', interrupt_mode: 'signal' }));
  for (const kernel of ['ripple', 'ir']) {
    fs.writeFileSync(path.join(home.dirs.notebooks, `bench-${kernel}.ipynb`), JSON.stringify(notebook(kernel), null, 1));
  }
  let server, browser;
  const samples = { ripple_run_first_cell_ms: [], irkernel_run_all_ms: [], ripple_run_all_ms: [] };
  try {
    server = await startLabServer(home);
    browser = await launchBrowser();
    const labs = {};
    for (const kernel of ['ripple', 'ir']) {
      labs[kernel] = await LabPage.open(browser, server, `bench-${kernel}.ipynb`, { width: 1200, height: 900 });
      if (await labs[kernel].kernelName() !== kernel) throw new Error(`bench-${kernel}.ipynb did not start kernel ${kernel}`);
      await labs[kernel].runAll();  // every cell computed once, as after opening and running a notebook
    }
    // Interleaved, so that drift on a shared machine hits both sides alike; each edit a new value (no cache hit).
    for (let r = 0; r < REPEATS; r++) {
      const value = 100 + r;
      samples.ripple_run_first_cell_ms.push(await timedEdit(labs.ripple, value, 'notebook:run-cell'));
      samples.irkernel_run_all_ms.push(await timedEdit(labs.ir, value, 'notebook:run-all-cells'));
      samples.ripple_run_all_ms.push(await timedEdit(labs.ripple, 1000 + value, 'notebook:run-all-cells'));
      console.log(`repeat ${r + 1}/${REPEATS}: ripple Run ${samples.ripple_run_first_cell_ms.at(-1).toFixed(0)} ms, ` +
        `IRkernel Run All ${samples.irkernel_run_all_ms.at(-1).toFixed(0)} ms, ripple Run All ${samples.ripple_run_all_ms.at(-1).toFixed(0)} ms`);
    }
    for (const lab of Object.values(labs)) {
      if (lab.consoleErrors.length) throw new Error(`page errors: ${lab.consoleErrors.join('; ')}`);
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    await env.stopServer(server);
    env.removeHome(home);
  }
  const ripple = median(samples.ripple_run_first_cell_ms);
  const ir = median(samples.irkernel_run_all_ms);
  const rippleAll = median(samples.ripple_run_all_ms);
  const result = {
    when: new Date().toISOString().replace(/\.\d+Z$/, '+0000'),
    commit: commit(),
    cpus: os.cpus().length,
    load_average_at_end: os.loadavg().map((x) => Number(x.toFixed(2))),
    front_end: 'JupyterLab 4.6 packages (notebook 4.6.6, services 7.6.6) in headless chromium, jupyter-server 1.23',
    notebook: { cells: CELLS, downstream_of_first: DOWNSTREAM.length, sleep_per_cell_s: SLEEP_S },
    ripple_run_first_cell_ms: ripple,
    irkernel_run_all_ms: ir,
    ratio_irkernel_over_ripple: ir / ripple,
    ripple_run_all_ms: rippleAll,
    ratio_irkernel_over_ripple_run_all: ir / rippleAll,
    repeats: REPEATS,
    samples,
  };
  const out = path.join(env.REPO, 'bench', 'results', 'jupyterlab_bench.json');
  fs.writeFileSync(out, `${JSON.stringify(result, null, 1)}\n`);
  console.log(`\n${CELLS}-cell notebook, ${DOWNSTREAM.length} cells downstream of cell 1, ${SLEEP_S * 1000} ms of work per cell; medians of ${REPEATS}:`);
  console.log(`  ripple, Run on cell 1 (reruns its dependents)      ${ripple.toFixed(0)} ms`);
  console.log(`  IRkernel, Run All (Lab's own)                       ${ir.toFixed(0)} ms`);
  console.log(`  ratio IRkernel / ripple                             ${(ir / ripple).toFixed(1)}x`);
  console.log(`  (ripple with Run All as well                        ${rippleAll.toFixed(0)} ms, ${(ir / rippleAll).toFixed(1)}x)`);
  console.log(`written to ${out}`);
}

main().catch((error) => { console.error(error); process.exit(1); });
