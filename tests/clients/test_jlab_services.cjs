// tests/clients/test_jlab_services.cjs: @jupyterlab/services against jupyter-server, cells sent with JupyterLab's metadata;
// reruns must reach each dependent cell's output model. Must not know ripple's internals, only JupyterLab's client.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { KernelManager, ServerConnection } = require('@jupyterlab/services');
const env = require('./jupyter_env.cjs');

const TIMEOUT_MS = 60000;
let home, server, manager, kernel;

// A notebook as JupyterLab keeps it: cells with UUIDs, each with an output model fed by its own execution's future.
class LabNotebook {
  constructor(kernel) {
    this.kernel = kernel;
    this.cells = new Map();   // name -> { id, future, outputs, displayIdMap }
    this.deletedCells = [];   // JupyterLab's model.deletedCells: ids deleted since the last execution
  }

  cell(name) {
    if (!this.cells.has(name)) this.cells.set(name, { id: crypto.randomUUID(), future: null, outputs: [], displayIdMap: new Map() });
    return this.cells.get(name);
  }

  // What CodeCell.execute + OutputArea.execute do in JupyterLab 4: metadata {cellId, deletedCells, recordTiming},
  // disposeOnDone=false (the future lives until the cell runs again, so later display updates reach it).
  async execute(name, code) {
    const cell = this.cell(name);
    if (cell.future) cell.future.dispose();
    cell.outputs = [];
    cell.updates = [];
    cell.displayIdMap = new Map();
    const metadata = { deletedCells: this.deletedCells.splice(0), recordTiming: false, cellId: cell.id };
    const future = this.kernel.requestExecute({ code, stop_on_error: true }, false, metadata);
    cell.future = future;
    const iopub = [];
    future.onIOPub = (msg) => {
      iopub.push(msg);
      onIOPub(cell, msg);
    };
    const reply = await withTimeout(future.done, `execute ${name}`);
    return { reply, iopub, msgId: future.msg.header.msg_id };
  }

  delete(name) {
    this.deletedCells.push(this.cells.get(name).id);
    this.cells.get(name).future?.dispose();
    this.cells.delete(name);
  }

  // The text a user sees in a cell: its outputs' text/plain (streams and displays).
  shown(name) {
    return this.cell(name).outputs.map((o) => (o.output_type === 'stream' ? o.text : o.data?.['text/plain'] ?? '')).join('');
  }
}

// JupyterLab's OutputArea._onIOPub, reduced to the model: add outputs, replace displays by display id.
function onIOPub(cell, msg) {
  const type = msg.header.msg_type;
  const displayId = msg.content.transient?.display_id;
  if (['execute_result', 'display_data', 'stream', 'error'].includes(type)) {
    cell.outputs.push({ ...msg.content, output_type: type });
  } else if (type === 'update_display_data') {
    for (const index of cell.displayIdMap.get(displayId) || []) cell.outputs[index] = { ...msg.content, output_type: 'display_data' };
    cell.updates.push(msg);
  }
  if (displayId && type === 'display_data') {
    const targets = cell.displayIdMap.get(displayId) || [];
    targets.push(cell.outputs.length - 1);
    cell.displayIdMap.set(displayId, targets);
  }
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  })]).finally(() => clearTimeout(timer));
}

// The update_display_data messages that reached a cell's output model (services routes them by display id to the
// future of the execution that first showed it; the requesting cell's own future does not see them).
function updatesReceived(nb, name) {
  return nb.cell(name).updates || [];
}

before(async () => {
  home = env.makeJupyterHome();
  server = await env.startServer(home, { module: 'jupyter_server' });
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: `${server.url}/`, wsUrl: `ws://127.0.0.1:${server.port}/`, token: server.token, appendToken: true, WebSocket,
  });
  manager = new KernelManager({ serverSettings });
  await withTimeout(manager.ready, 'kernel manager');
  kernel = await withTimeout(manager.startNew({ name: 'ripple' }), 'start kernel');
  const info = await withTimeout(kernel.info, 'kernel_info');
  assert.equal(info.implementation, 'ripple');
});

after(async () => {
  try {
    if (kernel) await withTimeout(kernel.shutdown(), 'shutdown');
  } catch (error) {
    console.log(`kernel shutdown: ${error.message}`);
  }
  manager?.dispose();
  await env.stopServer(server);
  env.removeHome(home);
});

test('an edit reruns the dependent cells: each gets update_display_data for its own display id, with the new value', async () => {
  const nb = new LabNotebook(kernel);
  await nb.execute('x', 'x <- 10');
  await nb.execute('y', 'y <- x * 2\ny');
  await nb.execute('label', 'cat("y is", y, "\\n")');
  await nb.execute('other', 'z <- 1\nz');
  assert.equal(nb.shown('y'), '[1] 20\n');
  assert.equal(nb.shown('label'), 'y is 20 \n');

  const edit = await nb.execute('x', 'x <- 21');
  assert.equal(edit.reply.content.status, 'ok');
  for (const [name, text] of [['y', '[1] 42\n'], ['label', 'y is 42 \n']]) {
    const updates = updatesReceived(nb, name);
    assert.equal(updates.length, 1, `one update for ${name}`);
    assert.equal(updates[0].content.transient.display_id, `ripple-${nb.cell(name).id}`);
    assert.equal(updates[0].content.data['text/plain'], text);
    assert.equal(updates[0].parent_header.msg_id, edit.msgId, 'the update belongs to the edit request');
    assert.equal(nb.shown(name), text, `what ${name} shows`);
  }
  assert.equal(updatesReceived(nb, 'other').length, 0, 'a cell that does not read x was rerun');
  assert.equal(nb.shown('other'), '[1] 1\n');
  const stream = edit.iopub.filter((m) => m.header.msg_type === 'stream').map((m) => m.content.text).join('');
  assert.match(stream, /↻ reran \[y <- x \* 2\] \[cat\("y is", y, "\\n"\)\]: x changed/);
});

test('deletedCells takes a deleted cell\'s definitions away: its readers rerun and show the error', async () => {
  const nb = new LabNotebook(kernel);
  await nb.execute('bonus', 'bonus <- 5');
  await nb.execute('uses', 'bonus + 1');
  await nb.execute('after', 'w <- 1');
  assert.equal(nb.shown('uses'), '[1] 6\n');
  const usesId = nb.cell('uses').id;
  nb.delete('bonus');
  const next = await nb.execute('after', 'w <- 2');
  assert.equal(next.reply.content.status, 'ok');
  const update = updatesReceived(nb, 'uses');
  assert.equal(update.length, 1, 'the reader of the deleted cell was not rerun');
  assert.equal(update[0].content.transient.display_id, `ripple-${usesId}`);
  assert.match(update[0].content.data['text/plain'], /object 'bonus' not found/);
  assert.match(nb.shown('uses'), /object 'bonus' not found/);
});

test('a failing cell replies error and shows its error in its own display, which a later fix replaces', async () => {
  const nb = new LabNotebook(kernel);
  await nb.execute('k', 'k <- -1');
  const failing = await nb.execute('check', 'stopifnot(k > 0)\nsqrt(k)');
  assert.equal(failing.reply.content.status, 'error');
  assert.match(nb.shown('check'), /k > 0 is not TRUE/);
  await nb.execute('k', 'k <- 16');
  assert.equal(nb.shown('check'), '[1] 4\n');
});
