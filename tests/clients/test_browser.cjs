// tests/clients/test_browser.cjs: Notebook 6.4 + ripple's nbextension in headless chromium: edits, inserts, moves, deletes,
// a reload and lazy mode ripple through examples/ripple-tour.ipynb; a DT table (examples/htmlwidgets.ipynb) is interactive. Must not read kernel logs: it asserts what the page shows.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./jupyter_env.cjs');
const { launchBrowser, NotebookPage } = require('./notebook_page.cjs');

const SHOTS = process.env.RIPPLE_SCREENSHOT_DIR ||
  path.join(env.buildDir(), 'tests', 'clients', 'screenshots');

// The tour's cells, by the start of their code.
const N = 'n <- ';
const SQUARES = 'squares <- (1:n)^2';
const BONUS = 'bonus <- 100';
const TOTAL = 'total <- sum(squares)';
const ODD = 'squares <- squares[';
const PLOT = 'barplot(';
const PLUS_ONE = 'squares <- squares + 1';
const LAZY = 'ripple::mode("lazy")';

let home, server, browser, nb;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  home = env.makeJupyterHome({ nbextension: true });
  for (const name of ['ripple-tour.ipynb', 'htmlwidgets.ipynb']) {
    fs.copyFileSync(path.join(env.REPO, 'examples', name), path.join(home.dirs.notebooks, name));
  }
  server = await env.startServer(home, { module: 'notebook' });
  browser = await launchBrowser();
  nb = await NotebookPage.open(browser, server, 'ripple-tour.ipynb');
  try {
    await nb.page.waitForFunction(() => window.ripple && window.ripple.connected(), null, { timeout: 30000 });
  } catch {
    throw new Error('the ripple nbextension did not load or did not open its comm (is it installed and enabled?)');
  }
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server && process.env.RIPPLE_TEST_VERBOSE) console.log(fs.readFileSync(server.logFile, 'utf8'));
  await env.stopServer(server);
  env.removeHome(home);
});

async function shot(name) {
  const file = path.join(SHOTS, name);
  await nb.screenshot(file);
  console.log(`screenshot: ${file}`);
}

const before_ = {};  // prompts and plot before the edit

test('Run All shows every cell\'s output and the plot as an image', async () => {
  await nb.runAll();
  assert.match(await nb.output(SQUARES), /\[1\]\s+1\s+4\s+9\s+16\s+25\n/);
  assert.match(await nb.output(TOTAL), /sum of 5 squares plus bonus: 155/);
  assert.match(await nb.output(ODD), /\[1\]\s+1\s+9\s+25\n/);
  const image = await nb.image(PLOT);
  assert.ok(image.src.startsWith('data:image/png;base64,'), `plot is not a PNG image: ${image.src.slice(0, 40)}`);
  assert.ok(image.complete && image.width > 100 && image.height > 100, `plot did not decode: ${JSON.stringify({ ...image, src: '' })}`);
  for (const cell of [SQUARES, TOTAL, ODD, PLOT]) before_[cell] = await nb.prompt(cell);
  before_.plot = image.src;
});

test('editing n reruns the cells below that read it, their outputs change in place', async () => {
  await nb.typeInto(N, 'n <- 7');
  await nb.run(N);
  await nb.waitOutput(SQUARES, /\[1\]\s+1\s+4\s+9\s+16\s+25\s+36\s+49\n/, 'rerun squares');
  assert.match(await nb.output(TOTAL), /sum of 7 squares plus bonus: 240/);
  assert.match(await nb.output(ODD), /\[1\]\s+1\s+9\s+25\s+49\n/);
  const reran = await nb.output(N);
  assert.match(reran, /↻ reran \[squares <- \(1:n\)\^2\] \[total <- sum\(squares\) \+…\] .*: n changed/);
  // In place: the front end did not execute them again (same prompt numbers), yet they show new outputs.
  for (const cell of [SQUARES, TOTAL, ODD, PLOT]) assert.equal(await nb.prompt(cell), before_[cell], `prompt of ${cell}`);
  const image = await nb.image(PLOT);
  assert.notEqual(image.src, before_.plot, 'the plot did not change');
  assert.ok(image.complete && image.width > 100, 'the new plot did not decode');
  await nb.scrollTo(N);
  await shot('edit-reruns-dependents.png');
});

test('a cell inserted between two cells (extension syncs the order) changes only the cells below it', async () => {
  await nb.insertBelow(SQUARES, PLUS_ONE);
  await nb.run(PLUS_ONE);
  await nb.waitOutput(TOTAL, /sum of 7 squares plus bonus: 247/, 'total after the inserted cell');
  assert.match(await nb.output(ODD), /\[1\]\s+5\s+17\s+37\n/);
  assert.match(await nb.output(SQUARES), /\[1\]\s+1\s+4\s+9\s+16\s+25\s+36\s+49\n/, 'the cell above changed');
  assert.equal(await nb.prompt(TOTAL), before_[TOTAL]);
});

test('moving a cell below a reader reruns that reader with what it now sees', async () => {
  await nb.moveDown(PLUS_ONE);  // below bonus: nothing it feeds changes
  await nb.moveDown(PLUS_ONE);  // below total: total no longer sees squares + 1
  await nb.waitOutput(TOTAL, /sum of 7 squares plus bonus: 240/, 'total after the move');
  assert.match(await nb.output(ODD), /\[1\]\s+5\s+17\s+37\n/, 'the odd squares still come after squares + 1');
  assert.equal(await nb.prompt(TOTAL), before_[TOTAL]);
});

test('deleting a cell takes its variable away from the cells below', async () => {
  await nb.deleteCell(BONUS);
  const text = await nb.waitOutput(TOTAL, /object 'bonus' not found/, 'total after deleting bonus');
  assert.doesNotMatch(text, /plus bonus: 240/, 'the old output is still shown');
  assert.equal(await nb.prompt(TOTAL), before_[TOTAL]);
  // The rerun caused by the deletion is announced where the user looks (no cell requested it).
  await nb.page.waitForFunction(() => /reran/.test(document.querySelector('#notification_ripple')?.innerText || ''));
  await nb.scrollTo(N);
  await shot('delete-removes-variable.png');
});

test('undoing the deletion brings the cell back under its id: running a reader runs it first', async () => {
  const before = await nb.cellCount();
  await nb.select(TOTAL);
  await nb.page.keyboard.press('z');  // Edit > Undo Delete Cells
  await nb.page.waitForFunction((n) => document.querySelectorAll('#notebook-container > .cell').length === n + 1, before);
  await nb.run(TOTAL);
  const text = await nb.output(TOTAL);
  assert.match(text, /sum of 7 squares plus bonus: 240/);
  assert.match(text, /↻ ran first \[bonus <- 100\]/, 'the restored cell was not run first');
});

test('after saving and reloading the page (same kernel), an edit still updates the cells below in place', async () => {
  await nb.save();
  const saved = fs.readFileSync(path.join(home.dirs.notebooks, 'ripple-tour.ipynb'), 'utf8');
  assert.ok(saved.includes(PLUS_ONE), 'the saved file does not hold the edited notebook');
  const ids = await nb.page.evaluate(() => window.ripple.cellIds());
  await nb.reload();
  await nb.page.waitForFunction(() => window.ripple && window.ripple.connected());
  assert.deepEqual(await nb.page.evaluate(() => window.ripple.cellIds()), ids, 'cell ids did not survive the reload');
  const squaresPrompt = await nb.prompt(SQUARES);
  const plotBefore = (await nb.image(PLOT)).src;
  await nb.typeInto(N, 'n <- 6');
  await nb.run(N);
  await nb.waitOutput(SQUARES, /\[1\]\s+1\s+4\s+9\s+16\s+25\s+36\n/, 'squares after the reload');
  assert.equal(await nb.prompt(SQUARES), squaresPrompt);
  assert.notEqual((await nb.image(PLOT)).src, plotBefore, 'the plot was not redrawn after the reload');
});

test('lazy mode: dependents show a stale line and a stale badge until they run', async () => {
  await nb.insertBelow(PLOT, LAZY);
  await nb.run(LAZY);
  await nb.typeInto(N, 'n <- 4');
  await nb.run(N);
  assert.match(await nb.output(N), /⚠ stale now \[squares <- \(1:n\)\^2\].*: n changed \(lazy mode: run them to update\)/);
  const stale = await nb.waitOutput(SQUARES, '⚠ stale: n changed above; run this cell to update', 'stale marker');
  assert.match(stale, /16\s+25\s+36\n/, 'a stale cell keeps its old output until it runs');
  for (const cell of [SQUARES, TOTAL, ODD, PLOT]) await nb.waitStaleBadge(cell, true);
  assert.equal(await nb.hasStaleBadge(N), false, 'the edited cell itself is up to date');
  const why = await nb.staleBadgeTooltip(TOTAL);
  console.log(`stale badge tooltip: ${why}`);
  assert.match(why, /^ripple: .*stale/i, 'the badge does not say why the cell is stale');
  await nb.scrollTo(N);
  await shot('lazy-mode-stale-cells.png');

  // Running a stale cell brings it up to date; the cells that read it stay stale (lazy mode runs nothing by itself).
  await nb.run(SQUARES);
  await nb.waitOutput(SQUARES, /\[1\]\s+1\s+4\s+9\s+16\n/, 'squares after running it');
  const ran = await nb.output(SQUARES);
  assert.doesNotMatch(ran, /⚠ stale:/, 'the cell just run still carries the stale marker');
  assert.match(ran, /⚠ stale now \[total <- sum\(squares\) \+…\]/, 'the run does not say which cells are stale now');
  await nb.waitStaleBadge(SQUARES, false);
  for (const cell of [TOTAL, ODD, PLOT]) assert.equal(await nb.hasStaleBadge(cell), true, `${cell} must still be marked stale`);
  assert.match(await nb.output(TOTAL), /⚠ stale/);
  assert.deepEqual(nb.consoleErrors, [], 'page errors');
});

// examples/htmlwidgets.ipynb in its own page (and kernel): the DT table is DataTables' own interactive table, offline.
const ROWS = 'rows <- ';
const TABLE = 'DT::datatable(';
const SENTENCE = 'htmltools::tags$p(';
const COMPOSITE = 'cat("rows:", rows, "\\n"); print(DT::datatable(squares, options = list(pageLength = 5)))';

// Polls the locator's text until it matches (the widget lives in its own iframe: no page.waitForFunction there).
async function waitText(locator, pattern, what) {
  const deadline = Date.now() + 60000;
  let text = '';
  while (Date.now() < deadline) {
    text = await locator.innerText({ timeout: 60000 }).catch(() => '');
    if (pattern.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: expected ${pattern}, shows ${JSON.stringify(text)}`);
}

test('a DT table is interactive (search box, pagination, filtering) and is replaced in place when rows changes', async () => {
  const widgets = await NotebookPage.open(browser, server, 'htmlwidgets.ipynb');
  // Nothing may come from the network: the widget's JavaScript and CSS are inside the output.
  const remote = [];
  widgets.page.on('request', (r) => { if (!r.url().startsWith(server.url) && !/^(data|about):/.test(r.url())) remote.push(r.url()); });
  await widgets.page.waitForFunction(() => window.ripple && window.ripple.connected(), null, { timeout: 30000 });
  await widgets.runAll();
  // The widget is isolated (its own iframe, as Notebook does for IRkernel's widgets): its jQuery stays out of the page.
  const cell = await widgets.cellByCode(TABLE);
  assert.equal(await cell.locator('.output_area iframe').count(), 1, 'the widget is not in an isolated iframe');
  const table = cell.frameLocator('.output_area iframe');
  const info = table.locator('.dataTables_info');
  await waitText(info, /^Showing 1 to 5 of 12 entries$/, 'table info');
  assert.equal(await table.locator('.dataTables_filter input[type="search"]').count(), 1, 'no search box');
  assert.ok(await table.locator('.dataTables_paginate .paginate_button').count() >= 3, 'no pagination buttons');
  assert.equal(await table.locator('table.dataTable tbody tr').count(), 5, 'a page shows pageLength rows');
  assert.equal(await widgets.page.evaluate(() => typeof window.jQuery.fn.DataTable), 'undefined', 'the widget changed the page');
  await widgets.waitOutput(SENTENCE, 'The table has 12 rows; the largest square is 144');

  // Typing into the search box filters rows (DataTables runs in the output).
  await table.locator('.dataTables_filter input').fill('word-07');
  await waitText(info, /^Showing 1 to 1 of 1 entries \(filtered from 12 total entries\)$/, 'filtered info');
  assert.equal(await table.locator('table.dataTable tbody tr').count(), 1);
  assert.match(await table.locator('table.dataTable tbody tr').first().innerText(), /word-07/);
  // The next page of the unfiltered table.
  await table.locator('.dataTables_filter input').fill('');
  await waitText(info, /^Showing 1 to 5 of 12 entries$/, 'info with the search cleared');
  await table.locator('.dataTables_paginate .paginate_button.next').click();
  await waitText(info, /^Showing 6 to 10 of 12 entries$/, 'second page');

  // An upstream edit reruns the data, the table and the sentence in place (same prompts, new contents).
  const prompts = { table: await widgets.prompt(TABLE), sentence: await widgets.prompt(SENTENCE) };
  await widgets.typeInto(ROWS, 'rows <- 30');
  await widgets.run(ROWS);
  await widgets.waitOutput(SENTENCE, 'The table has 30 rows; the largest square is 900', 'sentence after the edit');
  await waitText(info, /^Showing 1 to 5 of 30 entries$/, 'table after the edit');
  assert.equal(await widgets.prompt(TABLE), prompts.table, 'the table was not replaced in place');
  assert.equal(await widgets.prompt(SENTENCE), prompts.sentence);
  assert.equal(await cell.locator('.output_area').count(), 1, 'the old table is still there next to the new one');
  await table.locator('.dataTables_filter input').fill('word-2');
  await waitText(info, /^Showing 1 to 5 of 10 entries \(filtered from 30 total entries\)$/, 'filtered after the edit');
  await widgets.scrollTo(ROWS);
  const file = path.join(SHOTS, 'htmlwidget-datatable.png');
  await widgets.screenshot(file);
  console.log(`screenshot: ${file}`);

  // A cell that prints text and a widget shows them as one display, in the page (not isolated): the same HTML works
  // there, and a rerun replaces it in place too.
  await widgets.insertBelow(SENTENCE, COMPOSITE);
  await widgets.run(COMPOSITE);
  const composite = await widgets.cellByCode(COMPOSITE);
  assert.equal(await composite.locator('.output_area iframe').count(), 0);
  await waitText(composite.locator('.dataTables_info'), /^Showing 1 to 5 of 30 entries$/, 'in-page table');
  assert.match(await widgets.output(COMPOSITE), /^rows: 30 \n/);
  const compositePrompt = await widgets.prompt(COMPOSITE);
  await widgets.typeInto(ROWS, 'rows <- 8');
  await widgets.run(ROWS);
  await waitText(composite.locator('.dataTables_info'), /^Showing 1 to 5 of 8 entries$/, 'in-page table after the edit');
  assert.equal(await widgets.prompt(COMPOSITE), compositePrompt, 'the in-page table was not replaced in place');
  assert.equal(await composite.locator('.dataTables_wrapper').count(), 1);
  await composite.locator('.dataTables_filter input').fill('word-03');
  await waitText(composite.locator('.dataTables_info'), /filtered from 8 total entries/, 'in-page filtering');
  await waitText(info, /^Showing 1 to 5 of 8 entries$/, 'the isolated table after the second edit');
  assert.deepEqual(remote, [], 'the widget loaded something from the network');
  assert.deepEqual(widgets.consoleErrors, [], 'page errors');
  await widgets.page.close();
});
