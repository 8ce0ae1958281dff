/* The proctor's dashboard: a live table of one exam's attempts, fed by the proctor socket.
 *
 * The socket's first frame is a full snapshot; events then change single rows. After any
 * reconnect the table is rebuilt from the new snapshot, so nothing missed while away stays
 * wrong. Time left counts down locally from the last server value (performance.now()).
 */
(function () {
  "use strict";

  const REDRAW_MS = 500;
  const CLOSE = window.PROTOCOL.close;
  const showConnection = window.LiveSocket.showConnection;
  const STATUS_LABELS = { ongoing: "Ongoing", completed: "Submitted", timeout: "Timed out" };

  const app = document.getElementById("proctor-app");
  const examId = Number(app.dataset.examId);
  const el = (id) => document.getElementById(id);
  const rows = new Map(); // attempt id -> row state
  let socket = null;
  let synced = false;
  let resyncAsked = false; // one `sync` at a time: an event storm must not ask for a storm of snapshots

  function rowFrom(data) {
    return {
      attemptId: data.attempt_id,
      username: data.user ? data.user.username : "attempt " + data.attempt_id,
      status: data.status,
      answered: data.answered || 0,
      total: data.total_questions || 0,
      remainingAnchor: Number(data.remaining_seconds) || 0,
      anchoredAt: performance.now(),
      startedAt: data.started_at || "",
      score: data.score === undefined ? null : data.score,
      percentage: data.percentage === undefined ? null : data.percentage,
    };
  }

  /** A row that showed how its attempt ended: only a fresh snapshot may change its status. */
  function ended(row) {
    return row !== undefined && row.status !== "ongoing";
  }

  function remainingOf(row) {
    if (row.status !== "ongoing") return 0;
    return Math.max(0, row.remainingAnchor - (performance.now() - row.anchoredAt) / 1000);
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "snapshot":
        resyncAsked = false;
        if (frame.exam_title) el("exam-title").textContent = frame.exam_title;
        rows.clear();
        (frame.attempts || []).forEach((data) => rows.set(data.attempt_id, rowFrom(data)));
        synced = true;
        el("dashboard").hidden = false;
        showConnection("live", "Live");
        break;
      case "attempt_started":
        // Events of one attempt may arrive out of order: a row that showed its end keeps it.
        if (ended(rows.get(frame.attempt_id))) return;
        rows.set(frame.attempt_id, rowFrom(frame));
        break;
      case "answer_saved": {
        const row = rows.get(frame.attempt_id);
        if (!row) {
          resync(); // a row we never saw: a fresh snapshot brings it, with its student
          return;
        }
        // Answers are never taken back, so the count only grows; a late event must not lower
        // it, nor turn an ended row (an end is final) back to "ongoing".
        row.answered = Math.max(row.answered, Number(frame.answered) || 0);
        if (!ended(row)) row.status = frame.status || row.status;
        break;
      }
      case "attempt_submitted":
      case "attempt_timeout": {
        const row = rows.get(frame.attempt_id);
        if (!row) {
          resync();
          return;
        }
        row.status = frame.status || (frame.type === "attempt_timeout" ? "timeout" : "completed");
        row.score = frame.score;
        row.percentage = frame.percentage === undefined ? null : frame.percentage;
        break;
      }
      default:
        return;
    }
    render();
  }

  function resync() {
    if (resyncAsked) return;
    resyncAsked = true;
    socket.send({ type: "sync" });
  }

  function handleClose(code) {
    resyncAsked = false;
    switch (code) {
      case CLOSE.FORBIDDEN:
        showStaffOnly();
        return "stop";
      case CLOSE.NOT_FOUND:
        showError("There is no exam " + examId + ".");
        return "stop";
      default:
        return "reconnect"; // a dropped socket or a server restart: the next snapshot repairs the table
    }
  }

  function showStaffOnly() {
    const who = (window.ExamAuth.load() || {}).username;
    el("dashboard").hidden = true;
    showConnection("ended", "Not allowed");
    showError(
      "Staff only: this dashboard is for proctors." +
        (who ? " The account " + who + " is not a staff account." : "") +
        " Sign in with a proctor account to watch this exam.",
    );
  }

  function showError(text) {
    const box = el("page-error");
    box.textContent = text;
    box.hidden = false;
  }

  function cell(className, text) {
    const td = document.createElement("td");
    td.className = className;
    td.textContent = text;
    return td;
  }

  function scoreText(row) {
    if (row.score === null || row.score === undefined) return "—";
    return row.percentage === null ? String(row.score) : row.score + " (" + row.percentage + "%)";
  }

  function render() {
    const body = el("attempt-rows");
    const ordered = Array.from(rows.values()).sort(
      (a, b) => b.startedAt.localeCompare(a.startedAt) || b.attemptId - a.attemptId,
    );
    const counts = { ongoing: 0, completed: 0, timeout: 0 };
    const fresh = document.createDocumentFragment();
    ordered.forEach((row) => {
      counts[row.status] = (counts[row.status] || 0) + 1;
      const tr = document.createElement("tr");
      tr.dataset.attemptId = row.attemptId;
      tr.dataset.status = row.status;
      const status = cell("status", "");
      const badge = document.createElement("span");
      badge.className = "badge badge-" + row.status;
      badge.textContent = STATUS_LABELS[row.status] || row.status;
      status.append(badge);
      tr.append(
        cell("student", row.username),
        status,
        cell("answered", row.answered + " / " + row.total),
        cell("remaining", row.status === "ongoing" ? window.formatCountdown(Math.ceil(remainingOf(row))) : "—"),
        cell("score", scoreText(row)),
      );
      fresh.append(tr);
    });
    body.replaceChildren(fresh);
    el("count-ongoing").textContent = counts.ongoing;
    el("count-completed").textContent = counts.completed;
    el("count-timeout").textContent = counts.timeout;
    el("count-all").textContent = ordered.length;
    el("no-attempts").hidden = ordered.length > 0;
  }

  function redrawClocks() {
    // Only the time cells change between events: no need to rebuild the table.
    document.querySelectorAll("#attempt-rows tr").forEach((tr) => {
      const row = rows.get(Number(tr.dataset.attemptId));
      if (row && row.status === "ongoing") {
        tr.querySelector(".remaining").textContent = window.formatCountdown(Math.ceil(remainingOf(row)));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.ExamAuth.requireSignIn()) return;
    socket = new window.LiveSocket("/ws/proctor/exams/" + examId + "/", {
      onFrame: handleFrame,
      onClose: handleClose,
      onWaiting(seconds) {
        showConnection(
          "polling",
          (synced ? "Connection lost; the table may be out of date. " : "Cannot connect. ") +
            "Reconnecting in " + seconds + " s.",
        );
      },
    });
    socket.start();
    setInterval(redrawClocks, REDRAW_MS);
  });
})();
