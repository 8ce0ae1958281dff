/* The proctor table in the page: one <tr> per attempt, kept and updated in place.
 *
 * Rows are never rebuilt for an event: a proctor may be typing in a row's panel or have the
 * keyboard focus on a row's button when another student's answer arrives, and a rebuilt row
 * would take both away. New rows are inserted where they belong; existing ones only move when
 * a snapshot reorders them. The one open panel (proctor-panel.js) stays right below its row.
 */
(function () {
  "use strict";

  const P = (window.Proctor = window.Proctor || {});
  const STATUS_LABELS = { ongoing: "Ongoing", completed: "Submitted", timeout: "Timed out" };
  const DASH = "—";
  const trs = new Map(); // attempt id -> <tr>

  // The row's buttons: visible text, accessible name (which starts with the text), when shown.
  const ACTIONS = [
    { kind: "extend", text: () => "Extend", name: (r) => "Extend time for " + r.username, shown: (r) => r.status === "ongoing" },
    { kind: "end", text: () => "End now", name: (r) => "End now, attempt of " + r.username, shown: (r) => r.status === "ongoing" },
    {
      kind: "credit",
      text: (r) => "Credit " + P.rows.duration(P.rows.uncredited(r)),
      name: (r) => "Credit " + P.rows.duration(P.rows.uncredited(r)) + " offline time to " + r.username,
      shown: (r) => P.rows.uncredited(r) > 0,
    },
    { kind: "reopen", text: () => "Reopen", name: (r) => "Reopen attempt of " + r.username, shown: (r) => r.status !== "ongoing" },
    { kind: "audit", text: () => "Audit trail", name: (r) => "Audit trail of " + r.username, shown: () => true },
  ];

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text; // untouched nodes: no flicker, no re-announcement
  }

  function scoreText(record) {
    if (record.score === null || record.score === undefined) return DASH;
    return record.percentage === null ? String(record.score) : record.score + " (" + record.percentage + "%)";
  }

  function presenceText(record) {
    if (record.presence === null || record.status !== "ongoing") return DASH;
    if (record.presence.connected) return "Connected";
    const away = P.rows.offlineFor(record);
    return away === null ? "Offline" : "Offline since " + P.rows.duration(away);
  }

  function build(record) {
    const tr = document.createElement("tr");
    tr.dataset.attemptId = record.attemptId;
    const student = document.createElement("th");
    student.scope = "row";
    student.className = "student";
    tr.append(student);
    ["status", "answered", "remaining", "added", "score", "presence", "offline", "actions"].forEach((name) => {
      const td = document.createElement("td");
      td.className = name;
      tr.append(td);
    });
    const badge = document.createElement("span");
    tr.querySelector(".status").append(badge);
    const group = document.createElement("div");
    group.className = "row-actions";
    ACTIONS.forEach((action) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small action-" + action.kind;
      button.dataset.action = action.kind;
      button.setAttribute("aria-expanded", "false");
      button.addEventListener("click", () => P.panel.toggle(record.attemptId, action.kind, button));
      group.append(button);
    });
    tr.querySelector(".actions").append(group);
    return tr;
  }

  function update(tr, record) {
    tr.dataset.status = record.status;
    tr.dataset.presence =
      record.presence === null ? "unknown" : record.presence.connected ? "connected" : "offline";
    setText(tr.querySelector(".student"), record.username);
    const badge = tr.querySelector(".status span");
    badge.className = "badge badge-" + record.status;
    setText(badge, STATUS_LABELS[record.status] || record.status);
    setText(tr.querySelector(".answered"), record.answered + " / " + record.total);
    setText(tr.querySelector(".added"), record.changeSeconds > 0 ? "+" + P.rows.duration(record.changeSeconds) : DASH);
    setText(tr.querySelector(".score"), scoreText(record));
    updateClocks(tr, record);
  }

  /** The cells that change with time alone: redrawn twice a second. */
  function updateClocks(tr, record) {
    setText(
      tr.querySelector(".remaining"),
      record.status === "ongoing" ? window.formatCountdown(Math.ceil(P.rows.remainingOf(record))) : DASH,
    );
    setText(tr.querySelector(".presence"), presenceText(record));
    const offline = P.rows.offlineTotal(record);
    setText(tr.querySelector(".offline"), offline === null ? DASH : P.rows.duration(offline));
    let focusLost = false;
    ACTIONS.forEach((action) => {
      const button = tr.querySelector(".action-" + action.kind);
      const shown = action.shown(record);
      if (!shown && !button.hidden && document.activeElement === button) focusLost = true;
      if (button.hidden === shown) button.hidden = !shown;
      if (shown) {
        setText(button, action.text(record));
        if (button.getAttribute("aria-label") !== action.name(record)) button.setAttribute("aria-label", action.name(record));
      }
    });
    // The focused button went away with the change (the attempt ended while "End now" had the focus,
    // as after its own confirmation when the event comes after the answer): the keyboard user stays on
    // the row, on the first button it offers now, instead of falling back to the page.
    if (focusLost) {
      const first = tr.querySelector(".row-actions button:not([hidden])");
      if (first) first.focus();
    }
  }

  function render() {
    const body = document.getElementById("attempt-rows");
    const ordered = P.rows.ordered();
    const wanted = new Set(ordered.map((record) => record.attemptId));
    trs.forEach((tr, id) => {
      if (!wanted.has(id)) {
        tr.remove();
        trs.delete(id);
      }
    });
    const panel = P.panel.current();
    if (panel && !wanted.has(panel.attemptId)) P.panel.close({ restoreFocus: false });
    const open = P.panel.current();
    let cursor = body.firstChild;
    const place = (node) => {
      if (cursor === node) cursor = node.nextSibling;
      else body.insertBefore(node, cursor);
    };
    const counts = { ongoing: 0, completed: 0, timeout: 0 };
    ordered.forEach((record) => {
      counts[record.status] = (counts[record.status] || 0) + 1;
      let tr = trs.get(record.attemptId);
      if (!tr) {
        tr = build(record);
        trs.set(record.attemptId, tr);
      }
      update(tr, record);
      place(tr);
      if (open && open.attemptId === record.attemptId) place(open.tr);
    });
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    document.getElementById("count-ongoing").textContent = counts.ongoing;
    document.getElementById("count-completed").textContent = counts.completed;
    document.getElementById("count-timeout").textContent = counts.timeout;
    document.getElementById("count-all").textContent = ordered.length;
    document.getElementById("no-attempts").hidden = ordered.length > 0;
  }

  function redrawClocks() {
    trs.forEach((tr, id) => {
      const record = P.rows.all.get(id);
      if (record) updateClocks(tr, record);
    });
  }

  P.table = {
    render,
    redrawClocks,
    rowOf: (attemptId) => trs.get(attemptId) || null,
    buttonOf: (attemptId, kind) => (trs.has(attemptId) ? trs.get(attemptId).querySelector(".action-" + kind) : null),
    columns: () => document.querySelectorAll("#attempts thead th").length,
  };
})();
