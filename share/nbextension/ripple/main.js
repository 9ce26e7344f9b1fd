// share/nbextension/ripple/main.js: Notebook 6.4 extension that turns ripple's engine on: cell ids in execute metadata,
// the real cell order on the 'ripple' comm, stale badges. Must not know how the engine decides: it reports and shows.
define([
    'jquery',
    'base/js/namespace',
    'base/js/events',
    'notebook/js/codecell',
    'notebook/js/notebook',
    'services/kernels/kernel',
], function ($, Jupyter, events, codecell, notebookModule, kernelModule) {
    'use strict';

    var CodeCell = codecell.CodeCell;
    var Notebook = notebookModule.Notebook;
    var Kernel = kernelModule.Kernel;
    var DISPLAY_PREFIX = 'ripple-';

    // What the extension knows about the current kernel session.
    var session = {
        comm: null,          // the open 'ripple' comm, if the kernel is ripple
        replyHandlers: [],   // one per comm request, in order (the kernel answers each request once, in order)
        ran: {},             // ids of cells this kernel has run (only those can be "stale"; the others never ran)
        known: null,         // ids sent in the last notebook sync
        deleted: [],         // ids deleted since the last execute (sent as deletedCells, as JupyterLab does)
        syncTimer: null,
        graphTimer: null,
        lastGraph: null,     // the kernel's last answer to {"request": "graph"}
    };
    // Execute metadata for the request being built right now (CodeCell.execute -> Kernel.execute is synchronous).
    var pendingMetadata = null;

    function isRippleKernel(kernel) {
        return !!(kernel && kernel.info_reply && kernel.info_reply.implementation === 'ripple');
    }

    function newId() {
        var hex = '';
        for (var i = 0; i < 4; i++) hex += Math.floor((1 + Math.random()) * 0x10000).toString(16).substring(1);
        return hex.substring(0, 8) + '-' + hex.substring(8, 12) + '-' + hex.substring(12);
    }

    // nbformat 4.5 notebooks carry cell.id (Notebook 6.4 keeps it); older ones get an id in cell metadata.
    function assignId(cell) {
        if ((Jupyter.notebook.nbformat_minor || 0) >= 5 && Jupyter.notebook.nbformat >= 4) {
            cell.id = newId();
            return cell.id;
        }
        cell.metadata.ripple = $.extend({}, cell.metadata.ripple, {id: newId()});
        return cell.metadata.ripple.id;
    }

    function storedId(cell) {
        if (typeof cell.id === 'string' && cell.id.length > 0) return cell.id;
        var meta = cell.metadata && cell.metadata.ripple;
        return meta && typeof meta.id === 'string' ? meta.id : null;
    }

    // All code cells in document order with unique ids (a pasted copy keeps metadata: it gets a new id).
    function codeCells() {
        var seen = {};
        var cells = [];
        Jupyter.notebook.get_cells().forEach(function (cell) {
            if (!(cell instanceof CodeCell)) return;
            var id = storedId(cell);
            if (id === null || seen[id]) id = assignId(cell);
            seen[id] = true;
            cells.push({id: id, cell: cell});
        });
        return cells;
    }

    function idOf(cell) {
        var found = codeCells().filter(function (entry) { return entry.cell === cell; });
        return found.length ? found[0].id : assignId(cell);
    }

    function cellWithId(id) {
        var found = codeCells().filter(function (entry) { return entry.id === id; });
        return found.length ? found[0].cell : null;
    }

    // --- execute_request metadata, the way JupyterLab sends it ---------------------------------------------------

    var originalExecute = CodeCell.prototype.execute;
    CodeCell.prototype.execute = function () {
        if (!isRippleKernel(this.kernel)) return originalExecute.apply(this, arguments);
        // A cell added or moved just now: the kernel learns the order before it runs the cell (same channel, in order).
        if (session.syncTimer !== null) {
            clearTimeout(session.syncTimer);
            syncNow();
        }
        pendingMetadata = {cellId: idOf(this)};
        try {
            return originalExecute.apply(this, arguments);
        } finally {
            pendingMetadata = null;
        }
    };

    var originalSend = Kernel.prototype.send_shell_message;
    Kernel.prototype.send_shell_message = function (msgType, content, callbacks, metadata, buffers) {
        if (msgType === 'execute_request' && pendingMetadata !== null) {
            metadata = $.extend({}, metadata, pendingMetadata, {deletedCells: session.deleted});
            session.deleted = [];
            session.ran[pendingMetadata.cellId] = true;
        }
        return originalSend.call(this, msgType, content, callbacks, metadata, buffers);
    };

    // An update for a cell whose display this page never saw (e.g. after a reload) would be dropped by the
    // notebook: show it in that cell instead. The kernel binds its iopub handlers when it is created, so this is
    // registered on each kernel (openComm), not patched into the prototype.
    function routeUpdates(kernel) {
        kernel.register_iopub_handler('update_display_data', function (msg) {
            var displayId = (msg.content && msg.content.transient || {}).display_id;
            if (!displayId || displayId.indexOf(DISPLAY_PREFIX) !== 0 || hasLiveTarget(kernel, displayId)) {
                return kernel._handle_output_message(msg);
            }
            var cell = cellWithId(displayId.substring(DISPLAY_PREFIX.length));
            if (!cell) return;
            cell.output_area.clear_output(false, true);
            cell.output_area.handle_output({header: {msg_type: 'display_data'}, content: msg.content});
            events.trigger('set_dirty.Notebook', {value: true});
        });
    }

    function hasLiveTarget(kernel, displayId) {
        var parents = kernel._display_id_to_parent_ids[displayId] || [];
        return parents.some(function (parent) { return !!kernel.get_callbacks_for_msg(parent); });
    }

    // --- the 'ripple' comm: notebook order, graph, why ---------------------------------------------------------------

    function notify(text) {
        if (!Jupyter.notification_area) return;
        Jupyter.notification_area.widget('ripple').set_message(text, 6000);
    }

    // Stream lines the kernel prints for a comm request (e.g. "reran ...") go to the notification area.
    var commCallbacks = {
        iopub: {
            output: function (msg) {
                if (msg.header.msg_type === 'stream') notify(msg.content.text.trim());
            },
        },
    };

    function request(data, onReply) {
        if (!session.comm) return false;
        session.replyHandlers.push(onReply || function () {});
        session.comm.send(data, commCallbacks);
        return true;
    }

    function notebookMessage() {
        var cells = codeCells();
        var ids = {};
        cells.forEach(function (entry) { ids[entry.id] = true; });
        if (session.known) {
            Object.keys(session.known).forEach(function (id) {
                if (!ids[id] && session.deleted.indexOf(id) < 0) session.deleted.push(id);
            });
        }
        // An undone deletion brings the cell back with its id: it must not be sent as deleted any more.
        session.deleted = session.deleted.filter(function (id) { return !ids[id]; });
        session.known = ids;
        return {notebook: cells.map(function (entry) { return {id: entry.id, code: entry.cell.get_text()}; })};
    }

    function onNotebookReply(reply) {
        if (reply.status !== 'ok') {
            notify('ripple: ' + reply.message);
            return;
        }
        (reply.removed || []).forEach(function (id) { delete session.ran[id]; });
        scheduleGraph();
    }

    function syncNow() {
        session.syncTimer = null;
        if (session.comm) request(notebookMessage(), onNotebookReply);
    }

    // Cells added, moved or deleted: send the whole order once the notebook has settled.
    function scheduleSync() {
        if (session.syncTimer !== null) clearTimeout(session.syncTimer);
        session.syncTimer = setTimeout(syncNow, 100);
    }

    function scheduleGraph() {
        if (session.graphTimer !== null) clearTimeout(session.graphTimer);
        session.graphTimer = setTimeout(function () {
            session.graphTimer = null;
            request({request: 'graph'}, showStaleness);
        }, 50);
    }

    // --- stale badges ---------------------------------------------------------------------------------------------

    function showStaleness(reply) {
        if (reply.status !== 'ok') return;
        session.lastGraph = reply;
        var stale = {};
        (reply.cells || []).forEach(function (entry) {
            if (!entry.stale) session.ran[entry.id] = true;
            else if (session.ran[entry.id]) stale[entry.id] = true;
        });
        codeCells().forEach(function (entry) { markStale(entry.cell, entry.id, !!stale[entry.id]); });
    }

    function markStale(cell, id, stale) {
        var element = cell.element;
        element.toggleClass('ripple-stale', stale);
        element.children('.ripple-stale-badge').remove();
        if (!stale) return;
        var badge = $('<div class="ripple-stale-badge">\u26a0 stale</div>')
            .attr('title', 'ripple: this cell\'s output is out of date; run it to update.');
        badge.one('mouseenter', function () {
            request({request: 'why', cell: id}, function (reply) {
                if (reply.status === 'ok') badge.attr('title', 'ripple: ' + reply.text);
            });
        });
        element.append(badge);
    }

    function clearBadges() {
        $('.ripple-stale-badge').remove();
        $('.cell.ripple-stale').removeClass('ripple-stale');
    }

    // --- kernel lifecycle -----------------------------------------------------------------------------------------

    function openComm(kernel) {
        session.comm = null;
        session.replyHandlers = [];
        session.ran = {};
        session.known = null;
        clearBadges();
        if (!isRippleKernel(kernel)) return;
        routeUpdates(kernel);
        var data = notebookMessage();
        var comm = kernel.comm_manager.new_comm('ripple', data, commCallbacks);
        comm.on_msg(function (msg) {
            var handler = session.replyHandlers.shift();
            if (handler) handler(msg.content.data || {});
        });
        comm.on_close(function () {
            if (session.comm === comm) session.comm = null;
        });
        session.comm = comm;
        session.replyHandlers.push(onNotebookReply);  // the kernel answers the notebook sent with comm_open
    }

    function addStyles() {
        $('<style id="ripple-nbextension-style">').text([
            '.cell.ripple-stale { position: relative; border-left: 4px solid #e0a000; }',
            '.ripple-stale-badge { position: absolute; top: 6px; right: 10px; z-index: 20; padding: 0 6px;',
            '  font-size: 11px; line-height: 18px; color: #6b4e00; background: #fff3cd; border: 1px solid #e0a000;',
            '  border-radius: 3px; cursor: help; }',
        ].join('\n')).appendTo('head');
    }

    function load() {
        addStyles();
        events.on('kernel_ready.Kernel', function (event, data) { openComm(data.kernel); });
        events.on('kernel_dead.Kernel kernel_restarting.Kernel', function () {
            session.comm = null;
            clearBadges();
        });
        events.on('create.Cell delete.Cell', scheduleSync);
        events.on('finished_execute.CodeCell', scheduleGraph);
        ['move_selection_up', 'move_selection_down', 'move_cell_up', 'move_cell_down'].forEach(function (name) {
            var original = Notebook.prototype[name];
            Notebook.prototype[name] = function () {
                var result = original.apply(this, arguments);
                scheduleSync();
                return result;
            };
        });
        var kernel = Jupyter.notebook.kernel;
        if (kernel && kernel.is_connected() && isRippleKernel(kernel)) openComm(kernel);
        // For tests and curious users: what the extension sees.
        window.ripple = {
            sync: syncNow,
            refresh: scheduleGraph,
            cellIds: function () { return codeCells().map(function (entry) { return entry.id; }); },
            connected: function () { return session.comm !== null; },
            lastGraph: function () { return session.lastGraph; },
        };
    }

    return {load_ipython_extension: load};
});
