// tests/clients/notebook_page.cjs: drives a Notebook 6.4 page in headless chromium as a user does and reads what it shows.
// Must not know ripple's kernel protocol: it sees the DOM (and asks Notebook's JS only where a cell is).
'use strict';
const { launchBrowser, WAIT_MS } = require('./chromium.cjs');

class NotebookPage {
  constructor(page) {
    this.page = page;
    this.consoleErrors = [];
    page.on('pageerror', (error) => this.consoleErrors.push(String(error)));
  }

  static async open(browser, server, notebookPath) {
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    if (process.env.RIPPLE_TEST_VERBOSE) page.on('console', (m) => console.log(`[page ${m.type()}] ${m.text()}`));
    await page.goto(`${server.url}/notebooks/${notebookPath}?token=${server.token}`);
    const nb = new NotebookPage(page);
    await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded);
    await nb.waitIdle();
    return nb;
  }

  // The toolbar's save button; waits until the header no longer says "(unsaved changes)".
  async save() {
    await this.page.click('button[data-jupyter-action="jupyter-notebook:save-notebook"]');
    await this.page.waitForFunction(() => !/unsaved/.test(document.querySelector('.autosave_status')?.innerText || 'unsaved'));
  }

  // Reloads the page (the kernel keeps running) and waits until the notebook and its kernel are back.
  async reload() {
    await this.page.reload();
    await this.page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded);
    await this.waitIdle();
  }

  // The kernel indicator shows idle (after a start or a run).
  async waitIdle() {
    await this.page.waitForSelector('#kernel_indicator_icon.kernel_idle_icon');
  }

  // Index (among all cells) of the first cell whose source starts with `prefix`.
  async cellIndex(prefix) {
    const index = await this.page.evaluate((p) => Jupyter.notebook.get_cells().findIndex((c) => c.get_text().startsWith(p)), prefix);
    if (index < 0) throw new Error(`no cell starts with ${JSON.stringify(prefix)}`);
    return index;
  }

  cell(index) {
    return this.page.locator('#notebook-container > .cell').nth(index);
  }

  async cellByCode(prefix) {
    return this.cell(await this.cellIndex(prefix));
  }

  async prompt(prefix) {
    return (await (await this.cellByCode(prefix)).locator('.input_prompt').innerText()).trim();
  }

  // All the text a cell's output area shows, as a user reads it.
  async output(prefix) {
    const outputs = (await this.cellByCode(prefix)).locator('.output_area');
    return (await outputs.allInnerTexts()).join('\n');
  }

  // Waits until the cell's output satisfies `check` (a string it must contain or a RegExp); returns the text.
  async waitOutput(prefix, check, what) {
    const index = await this.cellIndex(prefix);
    const want = check instanceof RegExp ? { source: check.source, flags: check.flags } : { text: check };
    try {
      await this.page.waitForFunction(([i, w]) => {
        const cell = document.querySelectorAll('#notebook-container > .cell')[i];
        const text = Array.from(cell.querySelectorAll('.output_area')).map((e) => e.innerText).join('\n');
        return w.text !== undefined ? text.includes(w.text) : new RegExp(w.source, w.flags).test(text);
      }, [index, want]);
    } catch (error) {
      throw new Error(`${what || 'output'} of cell ${JSON.stringify(prefix)}: expected ${check}, page shows:\n` +
        `${await this.output(prefix)}\n(${error.message.split('\n')[0]})`);
    }
    return this.output(prefix);
  }

  // Puts the cursor in the cell's editor and replaces its text by typing (single-line code).
  async typeInto(prefix, code) {
    const cell = await this.cellByCode(prefix);
    await cell.locator('.CodeMirror').click();
    await this.page.keyboard.press('Control+A');
    await this.page.keyboard.press('Backspace');
    await this.page.keyboard.type(code);
  }

  // Shift+Enter in the cell whose text starts with `prefix`; waits for its prompt number and an idle kernel.
  async run(prefix) {
    const index = await this.cellIndex(prefix);
    await this.cell(index).locator('.CodeMirror').click();
    await this.page.keyboard.press('Shift+Enter');
    await this.page.waitForFunction((i) => {
      const prompt = document.querySelectorAll('#notebook-container > .cell')[i].querySelector('.input_prompt');
      return /\[\d+\]/.test(prompt.innerText);
    }, index);
    await this.waitIdle();
  }

  // Cell > Run All from the menu bar; waits until every code cell has a prompt number.
  async runAll() {
    await this.page.click('#celllink');
    await this.page.click('#run_all_cells > a');
    await this.page.waitForFunction(() => Array.from(document.querySelectorAll('#notebook-container > .code_cell .input_prompt'))
      .every((p) => /\[\d+\]/.test(p.innerText) || p.closest('.cell').querySelector('.CodeMirror').CodeMirror.getValue() === ''));
    await this.waitIdle();
  }

  // Command mode on that cell (click its prompt, Escape), as a user selects a cell.
  async select(prefix) {
    const cell = await this.cellByCode(prefix);
    await cell.locator('.input_prompt').click();
    await this.page.keyboard.press('Escape');
  }

  async deleteCell(prefix) {
    const before = await this.cellCount();
    await this.select(prefix);
    await this.page.keyboard.press('d');
    await this.page.keyboard.press('d');
    await this.page.waitForFunction((n) => document.querySelectorAll('#notebook-container > .cell').length === n - 1, before);
  }

  // 'b' in command mode: a new cell below, then typed into.
  async insertBelow(prefix, code) {
    const index = await this.cellIndex(prefix);
    await this.select(prefix);
    await this.page.keyboard.press('b');
    await this.page.waitForFunction((i) => Jupyter.notebook.get_selected_index() === i + 1, index);
    await this.page.keyboard.press('Enter');
    await this.page.keyboard.type(code);
  }

  // The toolbar's "move selected cells down" button.
  async moveDown(prefix) {
    const index = await this.cellIndex(prefix);
    await this.select(prefix);
    await this.page.click('button[data-jupyter-action="jupyter-notebook:move-cell-down"]');
    await this.page.waitForFunction(([i, p]) => Jupyter.notebook.get_cell(i + 1).get_text().startsWith(p), [index, prefix]);
  }

  async cellCount() {
    return this.page.locator('#notebook-container > .cell').count();
  }

  // The plot's <img> in that cell: its src and whether the browser decoded it to a picture with a size.
  async image(prefix) {
    const img = (await this.cellByCode(prefix)).locator('.output_area img').first();
    await img.waitFor();
    return img.evaluate((e) => ({ src: e.getAttribute('src') || '', width: e.naturalWidth, height: e.naturalHeight, complete: e.complete }));
  }

  async hasStaleBadge(prefix) {
    const cell = await this.cellByCode(prefix);
    const badge = cell.locator(':scope > .ripple-stale-badge');
    return (await badge.count()) > 0 && (await badge.isVisible()) &&
      (await cell.evaluate((e) => e.classList.contains('ripple-stale')));
  }

  // Hovers the stale badge and returns its tooltip once the extension filled it with the kernel's explanation.
  async staleBadgeTooltip(prefix) {
    const badge = (await this.cellByCode(prefix)).locator(':scope > .ripple-stale-badge');
    const before = await badge.getAttribute('title');
    await badge.hover();
    const handle = await badge.elementHandle();
    await this.page.waitForFunction(([e, t]) => e.getAttribute('title') !== t, [handle, before]);
    return badge.getAttribute('title');
  }

  async waitStaleBadge(prefix, stale) {
    const index = await this.cellIndex(prefix);
    try {
      await this.page.waitForFunction(([i, s]) => {
        const cell = document.querySelectorAll('#notebook-container > .cell')[i];
        const badge = cell.querySelector(':scope > .ripple-stale-badge');
        const shown = !!badge && badge.offsetParent !== null && cell.classList.contains('ripple-stale');
        return shown === s;
      }, [index, stale]);
    } catch (error) {
      const graph = await this.page.evaluate(() => JSON.stringify(window.ripple && window.ripple.lastGraph()));
      throw new Error(`cell ${JSON.stringify(prefix)} should ${stale ? '' : 'not '}show a stale badge; ` +
        `the extension's last graph: ${graph} (${error.message.split('\n')[0]})`);
    }
  }

  async scrollTo(prefix) {
    const index = await this.cellIndex(prefix);
    await this.page.evaluate((i) => Jupyter.notebook.scroll_to_cell(i, 0), index);
  }

  async screenshot(file) {
    await this.page.screenshot({ path: file });
  }
}

module.exports = { launchBrowser, NotebookPage };
