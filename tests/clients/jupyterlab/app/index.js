// tests/clients/jupyterlab/app/index.js: a notebook front end made of JupyterLab 4's own packages, in the shape of
// JupyterLab's "notebook" example app (ServiceManager, DocumentManager + registry, NotebookPanel, rendermime, commands).
// Must not know ripple: cells run only through JupyterLab's NotebookActions, so every request carries what Lab sends.
// Bundled by esbuild when the tests run (bundle.cjs); served by ripple_lab_server.py next to jupyter-server.
import '@jupyterlab/theme-light-extension/style/theme.css';
import '@jupyterlab/notebook/style/index.css';
import '@jupyterlab/docmanager/style/index.css';
import './app.css';

import { SessionContextDialogs } from '@jupyterlab/apputils';
import {
  CodeMirrorEditorFactory, CodeMirrorMimeTypeService, EditorExtensionRegistry, EditorLanguageRegistry, EditorThemeRegistry,
  ybinding,
} from '@jupyterlab/codemirror';
import { PageConfig } from '@jupyterlab/coreutils';
import { DocumentManager } from '@jupyterlab/docmanager';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { createMarkdownParser } from '@jupyterlab/markedparser-extension';
import {
  NotebookActions, NotebookModelFactory, NotebookPanel, NotebookWidgetFactory, ToolbarItems, runCell, setCellExecutor,
} from '@jupyterlab/notebook';
import { RenderMimeRegistry, standardRendererFactories } from '@jupyterlab/rendermime';
import { ServiceManager } from '@jupyterlab/services';
import { CommandRegistry } from '@lumino/commands';
import { BoxPanel, Menu, MenuBar, Widget } from '@lumino/widgets';

// What JupyterLab's notebook-extension registers as the cell executor (the default one, frozen).
setCellExecutor(Object.freeze({ runCell }));

// The editor services JupyterLab's codemirror-extension sets up: default languages, themes and extensions, and the binding
// of each editor to its cell's shared model (without it, typing would not reach the notebook model).
function editorServices() {
  const languages = new EditorLanguageRegistry();
  for (const language of EditorLanguageRegistry.getDefaultLanguages()) languages.addLanguage(language);
  const themes = new EditorThemeRegistry();
  for (const theme of EditorThemeRegistry.getDefaultThemes()) themes.addTheme(theme);
  const extensions = new EditorExtensionRegistry();
  for (const extension of EditorExtensionRegistry.getDefaultExtensions({ themes })) extensions.addExtension(extension);
  extensions.addExtension({
    name: 'shared-model-binding',
    factory: (options) => {
      const shared = options.model.sharedModel;
      return EditorExtensionRegistry.createImmutableExtension(
        ybinding({ ytext: shared.ysource, undoManager: shared.undoManager ?? undefined }));
    },
  });
  const factory = new CodeMirrorEditorFactory({ extensions, languages });
  return { languages, factory, mimeTypes: new CodeMirrorMimeTypeService(languages) };
}

// The commands and keys a Lab user runs cells with (ids and bindings as in JupyterLab's notebook-extension).
function addCommands(commands, panel, dialogs) {
  const nb = panel.content;
  const session = panel.sessionContext;
  // Lab's selectors: in command mode the focus is on the active cell (or the notebook), never on an editor.
  const COMMAND_MODE = '.jp-Notebook.jp-mod-commandMode :focus:not(:read-write)';
  const add = (id, label, execute, keys, selector = '.jp-Notebook') => {
    commands.addCommand(id, { label, execute });
    for (const k of keys) commands.addKeyBinding({ command: id, keys: k, selector });
  };
  add('notebook:run-cell', 'Run Selected Cell and Do not Advance', () => NotebookActions.run(nb, session, dialogs),
    [['Ctrl Enter']], '.jp-Notebook.jp-mod-editMode');
  add('notebook:run-cell-and-select-next', 'Run Selected Cell', () => NotebookActions.runAndAdvance(nb, session, dialogs),
    [['Shift Enter']], '.jp-Notebook.jp-mod-editMode');
  commands.addKeyBinding({ command: 'notebook:run-cell', keys: ['Ctrl Enter'], selector: COMMAND_MODE });
  commands.addKeyBinding({ command: 'notebook:run-cell-and-select-next', keys: ['Shift Enter'], selector: COMMAND_MODE });
  add('notebook:run-all-cells', 'Run All Cells', () => NotebookActions.runAll(nb, session, dialogs), []);
  add('notebook:enter-command-mode', 'Enter Command Mode', () => { nb.mode = 'command'; }, [['Escape']], '.jp-Notebook.jp-mod-editMode');
  add('notebook:enter-edit-mode', 'Enter Edit Mode', () => { nb.mode = 'edit'; nb.activeCell?.editor?.focus(); }, [['Enter']],
    COMMAND_MODE);
  add('notebook:delete-cell', 'Delete Cells', () => NotebookActions.deleteCells(nb), [['D', 'D']], COMMAND_MODE);
  add('notebook:insert-cell-below', 'Insert Cell Below', () => NotebookActions.insertBelow(nb), [['B']], COMMAND_MODE);
  add('notebook:clear-all-cell-outputs', 'Clear Outputs of All Cells', () => NotebookActions.clearAllOutputs(nb), []);
  add('kernel:restart', 'Restart Kernel…', () => dialogs.restart(session), [['0', '0']], COMMAND_MODE);
  add('kernel:restart-clear-output', 'Restart Kernel and Clear Outputs of All Cells…', async () => {
    if (await dialogs.restart(session)) NotebookActions.clearAllOutputs(nb);
  }, []);
  add('kernel:interrupt', 'Interrupt Kernel', () => session.session?.kernel?.interrupt(), [['I', 'I']], COMMAND_MODE);
  add('docmanager:save', 'Save Notebook', () => panel.context.save(), [['Accel S']], '.jp-Notebook');
}

// Lab's menus for the commands above (Run and Kernel), so a test clicks what a user clicks.
function menuBar(commands) {
  const bar = new MenuBar();
  const menu = (title, items) => {
    const m = new Menu({ commands });
    m.title.label = title;
    for (const command of items) m.addItem({ command });
    bar.addMenu(m);
  };
  menu('Edit', ['notebook:insert-cell-below', 'notebook:delete-cell', 'notebook:clear-all-cell-outputs']);
  menu('Run', ['notebook:run-cell-and-select-next', 'notebook:run-cell', 'notebook:run-all-cells']);
  menu('Kernel', ['kernel:interrupt', 'kernel:restart', 'kernel:restart-clear-output']);
  bar.id = 'ripple-lab-menubar';
  return bar;
}

async function main() {
  const manager = new ServiceManager();
  await manager.ready;
  const editors = editorServices();
  const rendermime = new RenderMimeRegistry({
    initialFactories: standardRendererFactories,
    markdownParser: createMarkdownParser(editors.languages),
  });
  const dialogs = new SessionContextDialogs();
  const registry = new DocumentRegistry();
  const opener = { open: () => {}, get opened() { return { connect: () => false, disconnect: () => false }; } };
  const docManager = new DocumentManager({ registry, manager, opener });
  registry.addModelFactory(new NotebookModelFactory({}));
  const widgetFactory = new NotebookWidgetFactory({
    name: 'Notebook',
    modelName: 'notebook',
    fileTypes: ['notebook'],
    defaultFor: ['notebook'],
    preferKernel: true,
    canStartKernel: true,
    rendermime,
    contentFactory: new NotebookPanel.ContentFactory({ editorFactory: editors.factory.newInlineEditor }),
    mimeTypeService: editors.mimeTypes,
    toolbarFactory: (panel) => ToolbarItems.getDefaultItems(panel, dialogs),
  });
  registry.addWidgetFactory(widgetFactory);

  const panel = docManager.open(PageConfig.getOption('notebookPath'));
  const commands = new CommandRegistry();
  document.addEventListener('keydown', (event) => commands.processKeydownEvent(event), true);
  addCommands(commands, panel, dialogs);

  const shell = new BoxPanel({ direction: 'top-to-bottom', spacing: 0 });
  shell.id = 'ripple-lab-shell';
  const bar = menuBar(commands);
  BoxPanel.setStretch(bar, 0);
  BoxPanel.setStretch(panel, 1);
  shell.addWidget(bar);
  shell.addWidget(panel);
  Widget.attach(shell, document.body);
  window.addEventListener('resize', () => shell.update());

  await panel.context.ready;
  await panel.sessionContext.ready;
  // For the tests: where the panel is, and every message Lab's kernel connection sees (read-only).
  const kernelMessages = [];
  panel.sessionContext.iopubMessage.connect((_, msg) => kernelMessages.push({ channel: 'iopub', msg }));
  panel.sessionContext.statusChanged.connect((_, status) => kernelMessages.push({ channel: 'status', status }));
  const watchReplies = (kernel) => kernel?.anyMessage.connect((_, { msg, direction }) => {
    if (direction === 'recv' && msg.channel === 'shell') kernelMessages.push({ channel: 'shell', msg });
  });
  watchReplies(panel.sessionContext.session?.kernel);
  panel.sessionContext.kernelChanged.connect((_, { newValue }) => watchReplies(newValue));
  window.rippleLab = { panel, commands, manager, kernelMessages, ready: true };
  document.body.dataset.rippleLabReady = 'true';
}

window.addEventListener('load', () => {
  main().catch((error) => {
    document.body.dataset.rippleLabError = String(error && error.stack ? error.stack : error);
    console.error(error);
  });
});
