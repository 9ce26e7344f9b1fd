// tests/clients/jupyterlab/lab_page.cjs: the JupyterLab 4 test front end in headless chromium, driven as a user drives Lab
// (menus, keys, typing in CodeMirror) and read from the DOM. Must not know ripple's protocol; it also serves the bench.
'use strict';
const path = require('node:path');
const env = require('../jupyter_env.cjs');
const { bundle } = require('./bundle.cjs');

const { launchBrowser, WAIT_MS } = require('../chromium.cjs');

// Bundles the front end into the build tree and starts jupyter-server 1.23 with ripple_lab_server's page and bridges.
async function startLabServer(home) {
  const dir = await bundle(process.env.RIPPLE_LAB_BUNDLE_DIR || path.join(env.buildDir(), 'tests', 'clients', 'jupyterlab-bundle'));
  home.env.RIPPLE_LAB_BUNDLE = dir;
  home.env.PYTHONPATH = [__dirname, home.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  return env.startServer(home, { module: 'ripple_lab_server' });
}

class LabPage {
  constructor(page) {
    this.page = page;
    this.consoleErrors = [];
    page.on('pageerror', (error) => this.consoleErrors.push(String(error)));
  }

  static async open(browser, server, notebookPath, { width = 1200, height = 1000 } = {}) {
    const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    if (process.env.RIPPLE_TEST_VERBOSE) page.on('console', (m) => console.log(`[page ${m.type()}] ${m.text()}`));
    await page.goto(`${server.url}/lab-test/notebooks/${notebookPath}?token=${server.token}`);
    const lab = new LabPage(page);
    await page.waitForFunction(() => document.body.dataset.rippleLabReady || document.body.dataset.rippleLabError);
    const error = await page.evaluate(() => document.body.dataset.rippleLabError);
    if (error) throw new Error(`the JupyterLab test front end did not start: ${error}`);
    await lab.waitIdle();
    await lab.waitCellsRendered();
    return lab;
  }

  // Lab's kernel status (the toolbar's kernel name item shows the session; the sessionContext says idle).
  async waitIdle() {
    await this.page.waitForFunction(() => {
      const s = window.rippleLab.panel.sessionContext;
      return s.session?.kernel && s.kernelDisplayStatus === 'idle';
    });
  }

  // With windowing 'contentVisibility' (Lab 4's default) cells are created lazily: wait until none is a placeholder.
  async waitCellsRendered() {
    await this.page.waitForFunction(() => window.rippleLab.panel.content.widgets.every((w) => !w.isPlaceholder()));
  }

  async kernelName() {
    return this.page.evaluate(() => window.rippleLab.panel.sessionContext.session?.kernel?.name);
  }

  // Index of the first cell whose source starts with `prefix`.
  async cellIndex(prefix) {
    const index = await this.page.evaluate((p) => window.rippleLab.panel.content.widgets
      .findIndex((w) => w.model.sharedModel.getSource().startsWith(p)), prefix);
    if (index < 0) throw new Error(`no cell starts with ${JSON.stringify(prefix)}`);
    return index;
  }

  cell(index) {
    return this.page.locator('.jp-Notebook > .jp-WindowedPanel-outer > .jp-WindowedPanel-inner > .jp-WindowedPanel-viewport > .jp-Cell').nth(index);
  }

  async cellByCode(prefix) {
    return this.cell(await this.cellIndex(prefix));
  }

  async cellCount() {
    return this.page.evaluate(() => window.rippleLab.panel.content.widgets.length);
  }

  // The prompt Lab shows left of the input: "[3]:", "[*]:" or "[ ]:".
  async prompt(prefix) {
    return (await (await this.cellByCode(prefix)).locator('.jp-InputPrompt').textContent()).trim();
  }

  // All the text a cell's output area shows (text outputs, errors, stale notes under images).
  async output(prefix) {
    const cell = await this.cellByCode(prefix);
    return (await cell.locator('.jp-OutputArea-output').allTextContents()).join('\n');
  }

  // Waits until the cell's output satisfies `check` (a string it contains or a RegExp); returns the text.
  async waitOutput(prefix, check, what, timeout = WAIT_MS) {
    const index = await this.cellIndex(prefix);
    const want = check instanceof RegExp ? { source: check.source, flags: check.flags } : { text: check };
    try {
      await this.page.waitForFunction(({ i, w }) => {
        const node = window.rippleLab.panel.content.widgets[i]?.node;
        const text = [...(node?.querySelectorAll('.jp-OutputArea-output') || [])].map((o) => o.textContent).join('\n');
        return w.text !== undefined ? text.includes(w.text) : new RegExp(w.source, w.flags).test(text);
      }, { i: index, w: want }, { timeout });
    } catch (error) {
      throw new Error(`${what}: the output of "${prefix}" never matched ${check}; it shows:\n${await this.output(prefix)}\n(${error.message})`);
    }
    return this.output(prefix);
  }

  // The one <img> in a cell's outputs: its src and decoded size.
  async image(prefix) {
    const index = await this.cellIndex(prefix);
    return this.page.evaluate((i) => {
      const img = window.rippleLab.panel.content.widgets[i].node.querySelector('.jp-OutputArea-output img');
      return img ? { src: img.src, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight } : null;
    }, index);
  }

  // Clicks into the cell's editor (Lab's edit mode on that cell).
  async edit(prefix) {
    const cell = await this.cellByCode(prefix);
    await cell.scrollIntoViewIfNeeded();
    await cell.locator('.cm-content').click();
    await this.page.waitForFunction(() => window.rippleLab.panel.content.mode === 'edit');
  }

  // Replaces the cell's code as a user does: click in the editor, select all, type the new text.
  async typeInto(prefix, text) {
    await this.edit(prefix);
    await this.page.keyboard.press('Control+A');
    await this.page.keyboard.insertText(text);
    const index = await this.page.evaluate(() => window.rippleLab.panel.content.activeCellIndex);
    await this.page.waitForFunction(({ i, t }) => window.rippleLab.panel.content.widgets[i].model.sharedModel.getSource() === t,
      { i: index, t: text });
  }

  // Ctrl+Enter in the cell (notebook:run-cell, NotebookActions.run); waits until Lab has the reply (prompt numbered).
  async run(prefix) {
    await this.edit(prefix);
    const index = await this.page.evaluate(() => window.rippleLab.panel.content.activeCellIndex);
    await this.runSelected(index);
  }

  async runSelected(index) {
    const before = await this.replies();
    await this.page.keyboard.press('Control+Enter');
    await this.waitReplies(before + 1);
    await this.page.waitForFunction((i) => {
      const m = window.rippleLab.panel.content.widgets[i].model;
      return m.executionState !== 'running' && m.executionCount !== null;
    }, index);
  }

  // Clicks a menu item in the page's menu bar (Lab's lumino menus), e.g. menu('Run', 'Run All Cells').
  async menu(title, label) {
    await this.page.locator('#ripple-lab-menubar .lm-MenuBar-itemLabel', { hasText: title }).click();
    await this.page.locator('.lm-Menu .lm-Menu-itemLabel', { hasText: label }).first().click();
  }

  // Run > Run All Cells; waits until every code cell has its reply.
  async runAll() {
    const codeCells = await this.page.evaluate(() => window.rippleLab.panel.content.widgets
      .filter((w) => w.model.type === 'code' && w.model.sharedModel.getSource().trim()).length);
    const before = await this.replies();
    await this.menu('Run', 'Run All Cells');
    await this.waitReplies(before + codeCells);
    await this.waitIdle();
  }

  // execute_reply messages Lab's kernel connection has received (read from the connection, not from the kernel).
  async replies() {
    return this.page.evaluate(() => window.rippleLab.kernelMessages
      .filter((m) => m.channel === 'shell' && m.msg.header.msg_type === 'execute_reply').length);
  }

  async waitReplies(n) {
    await this.page.waitForFunction((k) => window.rippleLab.kernelMessages
      .filter((m) => m.channel === 'shell' && m.msg.header.msg_type === 'execute_reply').length >= k, n);
  }

  // The content of the execute_reply messages received after the first `skip`.
  async replyContents(skip = 0) {
    return this.page.evaluate((s) => window.rippleLab.kernelMessages
      .filter((m) => m.channel === 'shell' && m.msg.header.msg_type === 'execute_reply').slice(s).map((m) => m.msg.content), skip);
  }

  // The cell's id as Lab's model has it (what it sends as metadata.cellId).
  async cellId(prefix) {
    const index = await this.cellIndex(prefix);
    return this.page.evaluate((i) => window.rippleLab.panel.content.widgets[i].model.sharedModel.getId(), index);
  }

  // Selects the cell in command mode (click its prompt area, then Escape) and presses D, D (notebook:delete-cell).
  async deleteCell(prefix) {
    const count = await this.cellCount();
    await this.edit(prefix);
    await this.page.keyboard.press('Escape');
    await this.page.waitForFunction(() => window.rippleLab.panel.content.mode === 'command');
    await this.page.keyboard.press('d');
    await this.page.keyboard.press('d');
    await this.page.waitForFunction((n) => window.rippleLab.panel.content.widgets.length === n - 1, count);
  }

  // Selects the cell, presses B (a code cell below, in edit mode), types the code.
  async insertBelow(prefix, code) {
    const count = await this.cellCount();
    await this.edit(prefix);
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('b');
    await this.page.waitForFunction((n) => window.rippleLab.panel.content.widgets.length === n + 1, count);
    await this.page.keyboard.press('Enter');
    await this.page.waitForFunction(() => window.rippleLab.panel.content.mode === 'edit');
    await this.page.keyboard.insertText(code);
  }

  // Kernel > Restart Kernel… and the dialog's Restart button, as a user answers it; waits for the new kernel to be idle.
  async restartKernel() {
    const seen = () => window.rippleLab.kernelMessages.filter((m) => m.channel === 'status' && m.status === 'restarting').length;
    const before = await this.page.evaluate(seen);
    await this.menu('Kernel', 'Restart Kernel…');
    await this.page.locator('.jp-Dialog .jp-mod-accept').click();
    await this.page.waitForFunction((n) => window.rippleLab.kernelMessages
      .filter((m) => m.channel === 'status' && m.status === 'restarting').length > n, before);
    await this.waitIdle();
  }

  async scrollTo(prefix) {
    const index = await this.cellIndex(prefix);
    await this.page.evaluate((i) => window.rippleLab.panel.content.scrollToItem(i, 'start'), index);
    await this.page.waitForTimeout(300);  // let the scroll settle before a screenshot
  }

  async screenshot(file) {
    await this.page.screenshot({ path: file });
  }
}

module.exports = { launchBrowser, startLabServer, LabPage };
