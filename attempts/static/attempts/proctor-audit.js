/* An attempt's audit trail, in the panel below its row: time, what, who, reason.
 *
 * Read from GET …/attempts/<id>/events/ when it opens, and read again whenever an event of that
 * attempt reaches the dashboard while it is open (one read at a time), so it never shows less
 * than the row does.
 */
(function () {
  "use strict";

  const P = (window.Proctor = window.Proctor || {});
  const DASH = "—";
  // Written by the server itself, not by the student's page nor by a proctor.
  const BY_THE_SERVER = new Set(["timed_out", "timer_restored"]);

  function signed(seconds) {
    return (seconds < 0 ? "−" : "+") + P.rows.duration(Math.abs(seconds));
  }

  /** What happened, in words, from the event's kind and data. */
  function what(event) {
    const data = event.data || {};
    switch (event.kind) {
      case "started":
        return data.time_limit_seconds ? "Started (time limit " + P.rows.duration(data.time_limit_seconds) + ")" : "Started";
      case "resumed":
        return "Resumed";
      case "answer_saved":
        return "Answer " + data.selected_option + " saved (question " + data.question_id + ")";
      case "answer_refused":
        return "Answer refused (question " + data.question_id + ", " + data.code + ")";
      case "submitted":
        return "Submitted";
      case "timed_out":
        return "Timed out";
      case "time_changed":
        return "Time changed " + signed(Number(data.change_seconds) || 0);
      case "ended":
        return "Ended by a proctor";
      case "reopened":
        return "Reopened for " + P.rows.duration(Number(data.seconds) || 0);
      case "connected":
        return "Page connected";
      case "disconnected":
        return "Page disconnected";
      case "timer_restored":
        return "Timer restored";
      default:
        return event.kind;
    }
  }

  function who(event, record) {
    if (event.actor) return event.actor.username;
    return BY_THE_SERVER.has(event.kind) ? "server" : record.username;
  }

  function cell(tag, text, className) {
    const node = document.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function line(event, record) {
    const tr = document.createElement("tr");
    tr.dataset.kind = event.kind;
    const at = document.createElement("td");
    const time = document.createElement("time");
    time.dateTime = event.at;
    time.textContent = new Date(event.at).toLocaleTimeString();
    at.append(time);
    const reason = event.data && event.data.reason ? event.data.reason : DASH;
    tr.append(at, cell("td", what(event), "what"), cell("td", who(event, record), "who"), cell("td", reason, "reason"));
    return tr;
  }

  P.panel.register("audit", (section, record, panel) => {
    const head = document.createElement("div");
    head.className = "panel-head";
    const title = cell("h3", "Audit trail: " + record.username);
    title.id = "row-panel-title";
    title.tabIndex = -1;
    const closeButton = cell("button", "Close");
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", "Close audit trail");
    closeButton.addEventListener("click", panel.close);
    head.append(title, closeButton);

    const state = cell("p", "Loading…", "hint");
    state.setAttribute("role", "status");
    const error = cell("p", "", "form-error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    const table = document.createElement("table");
    table.className = "audit";
    table.hidden = true;
    const caption = cell("caption", "Audit trail of " + record.username + "'s attempt, oldest first", "sr-only");
    const headRow = document.createElement("tr");
    ["Time", "What", "Who", "Reason"].forEach((name) => {
      const th = cell("th", name);
      th.scope = "col";
      headRow.append(th);
    });
    const thead = document.createElement("thead");
    thead.append(headRow);
    const body = document.createElement("tbody");
    table.append(caption, thead, body);
    const wrap = document.createElement("div");
    wrap.className = "audit-wrap";
    wrap.append(table);
    section.append(head, state, error, wrap);

    let loading = false;
    let again = false;
    async function load() {
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      const result = await P.api.call("GET", "/api/exam/proctor/attempts/" + record.attemptId + "/events/");
      loading = false;
      if (!section.isConnected) return;
      if (result.ok) {
        const events = result.data.events || [];
        body.replaceChildren(...events.map((event) => line(event, record)));
        table.hidden = false;
        error.hidden = true;
        state.textContent = events.length + (events.length === 1 ? " event" : " events");
      } else {
        error.textContent = P.api.describe(result, "audit");
        error.dataset.code = result.code;
        error.hidden = false;
        state.textContent = "";
      }
      if (again) {
        again = false;
        load();
      }
    }
    load();
    return { focus: title, rowChanged: load };
  });
})();
