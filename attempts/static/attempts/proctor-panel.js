/* The one panel that opens right below an attempt's row: a control's form, or the audit trail.
 *
 * Opened by the row's button (aria-expanded, aria-controls), it takes the keyboard focus; Escape,
 * its Cancel or Close button, or the same row button again close it, and the focus goes back to
 * the button that opened it. One at a time: opening another closes the first.
 */
(function () {
  "use strict";

  const P = (window.Proctor = window.Proctor || {});
  const PANEL_ID = "row-panel";
  const builders = {}; // kind -> build(section, record, panel) -> {focus, rowChanged?}
  let open = null; // {attemptId, kind, tr, opener, view}

  function register(kind, build) {
    builders[kind] = build;
  }

  function current() {
    return open;
  }

  function toggle(attemptId, kind, opener) {
    if (open && open.attemptId === attemptId && open.kind === kind) close({ restoreFocus: true });
    else show(attemptId, kind, opener);
  }

  function show(attemptId, kind, opener) {
    close({ restoreFocus: false });
    const record = P.rows.all.get(attemptId);
    if (!record || !builders[kind]) return;
    const tr = document.createElement("tr");
    tr.className = "panel-row";
    tr.dataset.panelFor = attemptId;
    tr.dataset.panel = kind;
    const td = document.createElement("td");
    td.colSpan = P.table.columns();
    const section = document.createElement("section");
    section.className = "row-panel panel-" + kind;
    section.id = PANEL_ID;
    section.setAttribute("role", "region");
    section.setAttribute("aria-labelledby", PANEL_ID + "-title");
    td.append(section);
    tr.append(td);
    open = { attemptId, kind, tr, opener, view: null };
    open.view = builders[kind](section, record, { close: () => close({ restoreFocus: true }) });
    opener.setAttribute("aria-expanded", "true");
    opener.setAttribute("aria-controls", PANEL_ID);
    P.table.render(); // puts the panel's row right below the attempt's
    open.view.focus.focus();
  }

  function close(options) {
    if (!open) return;
    const { attemptId, tr, opener } = open;
    open = null;
    tr.remove();
    opener.setAttribute("aria-expanded", "false");
    opener.removeAttribute("aria-controls");
    if (!options.restoreFocus) return;
    // Back to the button that opened it; if the row no longer offers it (the attempt ended
    // meanwhile), to the row's first button, so the keyboard user stays on that row.
    const row = P.table.rowOf(attemptId);
    const target = opener.isConnected && !opener.hidden ? opener : row && row.querySelector(".row-actions button:not([hidden])");
    if (target) target.focus();
  }

  /** The open panel's attempt changed (an event): let the panel follow it. */
  function rowChanged(attemptId) {
    if (open && open.attemptId === attemptId && open.view.rowChanged) open.view.rowChanged(P.rows.all.get(attemptId));
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !open) return;
    const row = P.table.rowOf(open.attemptId);
    if (open.tr.contains(event.target) || (row && row.contains(event.target))) {
      event.preventDefault();
      close({ restoreFocus: true });
    }
  });

  /** The console's polite status line: what a control just did. */
  function say(text) {
    const line = document.getElementById("console-status");
    line.textContent = text;
    line.hidden = false;
  }

  P.panel = { register, toggle, close, current, rowChanged };
  P.say = say;
})();
