// tests/clients/jupyterlab/test_jupyterlab.cjs: JupyterLab 4's own notebook, cells and output areas (npm, bundled) in
// headless chromium against jupyter-server 1.23 and ripple: run all, an edit, a plot, a failing rerun, a restart served
// from the cache, a deletion and lazy mode, on examples/ripple-tour.ipynb. Asserts what the page shows; must not read
// kernel logs nor send anything Lab would not send (cells run through Lab's menus and keys only).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('../jupyter_env.cjs');
const { launchBrowser, startLabServer, LabPage } = require('./lab_page.cjs');

const SHOTS = process.env.RIPPLE_SCREENSHOT_DIR || path.join(env.buildDir(), 'tests', 'clients', 'screenshots');

// The tour's cells, by the start of their code.
const OPTIONS = 'options(repr.plot';
const N = 'n <- ';
const SQUARES = 'squares <- (1:n)^2';
const BONUS = 'bonus <- 100';
const TOTAL = 'total <- sum(squares)';
const ODD = 'squares <- squares[';
const PLOT = 'barplot(';
const LAZY = 'ripple::mode("lazy")';
const DEPENDENTS = [SQUARES, TOTAL, ODD, PLOT];

let home, server, browser, lab;  // lab: the page (replaced when the last test reloads it)

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  home = env.makeJupyterHome();
  fs.copyFileSync(path.join(env.REPO, 'examples', 'ripple-tour.ipynb'), path.join(home.dirs.notebooks, 'ripple-tour.ipynb'));
  server = await startLabServer(home);
  browser = await launchBrowser();
  lab = await LabPage.open(browser, server, 'ripple-tour.ipynb');
  assert.equal(await lab.kernelName(), 'ripple', 'the notebook did not start its own kernel (metadata.kernelspec)');
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server && process.env.RIPPLE_TEST_VERBOSE) console.log(fs.readFileSync(server.logFile, 'utf8'));
  await env.stopServer(server);
  env.removeHome(home);
});

async function shot(name, scrollTo = N) {
  await lab.scrollTo(scrollTo);
  await lab.page.mouse.move(1190, 990);  // no hover marks (heading anchors, toolbars) in the picture
  const file = path.join(SHOTS, name);
  await lab.screenshot(file);
  console.log(`screenshot: ${file}`);
}

async function outputsOf(cells) {
  const shown = {};
  for (const cell of cells) shown[cell] = await lab.output(cell);
  return shown;
}

async function promptsOf(cells) {
  const prompts = {};
  for (const cell of cells) prompts[cell] = await lab.prompt(cell);
  return prompts;
}

async function assertTourAt5() {
  assert.match(await lab.output(SQUARES), /\[1\]\s+1\s+4\s+9\s+16\s+25\n/);
  assert.match(await lab.output(TOTAL), /sum of 5 squares plus bonus: 155/);
  assert.match(await lab.output(ODD), /\[1\]\s+1\s+9\s+25\n/);
}

const first = {};  // what Run All showed: prompts and the plot

test('Run > Run All Cells: every cell\'s output, the plot as a PNG image, displays named after Lab\'s cell ids', async () => {
  await lab.runAll();
  await assertTourAt5();
  const image = await lab.image(PLOT);
  assert.ok(image, 'the plot cell shows no image');
  assert.ok(image.src.startsWith('data:image/png;base64,'), `plot is not a PNG image: ${image.src.slice(0, 40)}`);
  assert.ok(image.complete && image.width > 100 && image.height > 100, 'the plot did not decode');
  Object.assign(first, await promptsOf(DEPENDENTS), { plot: image.src });
  // The kernel named each display after the cell id Lab sent (metadata.cellId = the nbformat 4.5 cell id).
  const displayIds = await lab.page.evaluate(() => window.rippleLab.kernelMessages
    .filter((m) => m.channel === 'iopub' && m.msg.header.msg_type === 'display_data')
    .map((m) => m.msg.content.transient?.display_id));
  for (const cell of DEPENDENTS) {
    const id = await lab.cellId(cell);
    assert.ok(displayIds.includes(`ripple-${id}`), `no display ripple-${id} for "${cell}" among ${displayIds}`);
  }
  await shot('lab-run-all.png', OPTIONS);
});

test('editing n and running only that cell changes the outputs below in place, with the reran line', async () => {
  await lab.typeInto(N, 'n <- 7');
  await lab.run(N);
  await lab.waitOutput(SQUARES, /\[1\]\s+1\s+4\s+9\s+16\s+25\s+36\s+49\n/, 'rerun squares');
  assert.match(await lab.output(TOTAL), /sum of 7 squares plus bonus: 240/);
  assert.match(await lab.output(ODD), /\[1\]\s+1\s+9\s+25\s+49\n/);
  assert.match(await lab.output(N), /↻ reran \[squares <- \(1:n\)\^2\] \[total <- sum\(squares\) \+…\] .*: n changed/);
  // In place: Lab did not execute them again (same prompt numbers), yet they show the new values.
  assert.deepEqual(await promptsOf(DEPENDENTS), Object.fromEntries(DEPENDENTS.map((c) => [c, first[c]])));
  await shot('lab-edit-reruns-dependents.png');
});

test('the plot is replaced in place: one image, a new picture', async () => {
  const image = await lab.image(PLOT);
  assert.notEqual(image.src, first.plot, 'the plot did not change');
  assert.ok(image.complete && image.width > 100, 'the new plot did not decode');
  const images = (await lab.cellByCode(PLOT)).locator('.jp-OutputArea-output img');
  assert.equal(await images.count(), 1, 'the rerun added a second image instead of replacing the first');
  assert.equal(await lab.prompt(PLOT), first[PLOT]);
});

test('a failing rerun shows the error where the value was, and the next edit recovers every cell', async () => {
  await lab.typeInto(N, 'n <- "seven"');
  await lab.run(N);
  const failed = await lab.waitOutput(SQUARES, /NA\/NaN argument/, 'squares after n became text');
  assert.doesNotMatch(failed, /36\s+49/, 'the old value is still shown next to the error');
  // A fresh R session would fail there too and then have no `squares` for the cells below.
  assert.match(await lab.waitOutput(TOTAL, /object 'squares' not found/, 'total after squares failed'), /object 'squares' not found/);
  assert.match(await lab.output(N), /↻ reran \[squares <- \(1:n\)\^2\] .*: n, squares changed/);
  await shot('lab-failing-rerun.png');

  await lab.typeInto(N, 'n <- 5');
  await lab.run(N);
  await lab.waitOutput(TOTAL, /sum of 5 squares plus bonus: 155/, 'total after the recovery');
  await assertTourAt5();
  assert.doesNotMatch(await lab.output(SQUARES), /Error/, 'the error is still shown after the recovery');
  const image = await lab.image(PLOT);
  assert.ok(image && image.complete && image.width > 100, 'the plot did not come back');
  assert.deepEqual(await promptsOf(DEPENDENTS), Object.fromEntries(DEPENDENTS.map((c) => [c, first[c]])));
});

test('Kernel > Restart Kernel…, clear outputs, Run All: every cell restored from the cache with its outputs', async () => {
  const shown = await outputsOf(DEPENDENTS);
  const plot = (await lab.image(PLOT)).src;
  await lab.restartKernel();
  await lab.menu('Edit', 'Clear Outputs of All Cells');
  await lab.page.waitForFunction(() => !document.querySelector('.jp-Notebook .jp-OutputArea-output'));
  const replied = await lab.replies();
  await lab.runAll();
  assert.deepEqual(await outputsOf(DEPENDENTS), shown, 'the restored outputs differ from those before the restart');
  assert.equal((await lab.image(PLOT)).src, plot, 'the restored plot is not the same picture');
  // What Lab's kernel connection received: each of those cells was replayed from the cache, not run.
  const served = (await lab.replyContents(replied)).flatMap((reply) => reply.ripple_from_cache || []);
  for (const cell of [N, ...DEPENDENTS]) {
    assert.ok(served.includes(await lab.cellId(cell)), `"${cell}" was computed again after the restart`);
  }
  await shot('lab-restart-restored-from-cache.png');
});

test('deleting a cell: the next run takes its variable away, and the cell that read it shows the fresh-run error', async () => {
  const prompt = await lab.prompt(TOTAL);
  await lab.deleteCell(BONUS);
  // Lab tells the kernel about deletions only with the next execute request (metadata.deletedCells).
  assert.match(await lab.output(TOTAL), /plus bonus: 155/, 'something changed before any cell ran');
  await lab.run(N);
  const text = await lab.waitOutput(TOTAL, /object 'bonus' not found/, 'total after deleting bonus');
  assert.doesNotMatch(text, /plus bonus: 155/, 'the old output is still shown');
  assert.equal(await lab.prompt(TOTAL), prompt);
  assert.match(await lab.output(N), /↻ reran \[total <- sum\(squares\) \+…\]/);
  await shot('lab-delete-removes-variable.png');
});

test('lazy mode: dependents keep their output under a stale line until they run', async () => {
  await lab.insertBelow(PLOT, LAZY);
  await lab.run(LAZY);
  await lab.typeInto(N, 'n <- 4');
  await lab.run(N);
  assert.match(await lab.output(N), /⚠ stale now \[squares <- \(1:n\)\^2\].*: n changed \(lazy mode: run them to update\)/);
  const stale = await lab.waitOutput(SQUARES, '⚠ stale: n changed above; run this cell to update', 'stale marker');
  assert.match(stale, /16\s+25\n/, 'a stale cell keeps its old output until it runs');
  await lab.waitOutput(PLOT, '⚠ stale', 'stale marker under the plot');
  assert.ok((await lab.image(PLOT))?.complete, 'the stale plot is no longer shown');
  await shot('lab-lazy-mode-stale-cells.png');

  // Running a stale cell brings it up to date; the cells that read it stay stale (lazy mode runs nothing by itself).
  await lab.run(SQUARES);
  await lab.waitOutput(SQUARES, /\[1\]\s+1\s+4\s+9\s+16\n/, 'squares after running it');
  const ran = await lab.output(SQUARES);
  assert.doesNotMatch(ran, /⚠ stale:/, 'the cell just run still carries the stale marker');
  assert.match(ran, /⚠ stale now \[total <- sum\(squares\) \+…\]/, 'the run does not say which cells are stale now');
  assert.match(await lab.output(ODD), /⚠ stale/);
  assert.deepEqual(lab.consoleErrors, [], 'page errors');
});

// A known gap, kept visible: Lab routes update_display_data through the kernel connection's record of which request
// created each display; a reloaded page has no such record, so reruns reach only cells run since the reload.
test('after saving and reloading the page (same kernel), an edit updates the cells below in place',
  { todo: 'JupyterLab drops update_display_data for displays created before a page reload (README, "JupyterLab 4")' },
  async () => {
    await lab.typeInto(LAZY, 'ripple::mode("reactive")');
    await lab.run('ripple::mode(');
    await lab.edit(N);
    await lab.page.keyboard.press('Control+S');
    await lab.page.waitForFunction(() => !window.rippleLab.panel.context.model.dirty);
    const kernelId = await lab.page.evaluate(() => window.rippleLab.panel.sessionContext.session.kernel.id);
    await lab.page.close();
    lab = await LabPage.open(browser, server, 'ripple-tour.ipynb');
    assert.equal(await lab.page.evaluate(() => window.rippleLab.panel.sessionContext.session.kernel.id), kernelId,
      'the reloaded page did not reconnect to the same kernel');
    await lab.typeInto(N, 'n <- 3');
    await lab.run(N);
    assert.match(await lab.output(N), /↻ reran \[squares <- \(1:n\)\^2\]/, 'the kernel did not rerun the cells below');
    await lab.waitOutput(SQUARES, /\[1\]\s+1\s+4\s+9\n/, 'squares after the reload', 5000);
  });
