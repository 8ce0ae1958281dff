/* The proctor's console: a live table of one exam's attempts, fed by the proctor socket, with
 * the live controls (proctor-actions.js) and the audit trail (proctor-audit.js) beside the rows.
 *
 * The socket's first frame is a full snapshot; events then change single rows. After any
 * reconnect the table is rebuilt from the new snapshot, so nothing missed while away stays
 * wrong. Time left and offline time count on locally from the last server value.
 */
(function () {
  "use strict";

  const REDRAW_MS = 500;
  const CLOSE = window.PROTOCOL.close;
  const showConnection = window.LiveSocket.showConnection;
  const P = window.Proctor;
  const rows = P.rows.all;

  const app = document.getElementById("proctor-app");
  const examId = Number(app.dataset.examId);
  const el = (id) => document.getElementById(id);
  let socket = null;
  let synced = false;
  let tooMany = false; // the last socket was refused for too many connections (4429)
  let resyncAsked = false; // one `sync` at a time: an event storm must not ask for a storm of snapshots

  /** The row of an event, or null after asking for a snapshot that brings the row we never saw. */
  function known(frame) {
    const record = rows.get(frame.attempt_id);
    if (!record) resync();
    return record || null;
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "snapshot": {
        resyncAsked = false;
        if (frame.exam_title) el("exam-title").textContent = frame.exam_title;
        const list = frame.attempts || [];
        P.rows.learnClock(list);
        rows.clear();
        list.forEach((data) => rows.set(data.attempt_id, P.rows.recordFrom(data)));
        synced = true;
        tooMany = false;
        el("dashboard").hidden = false;
        showConnection("live", "Live");
        break;
      }
      case "attempt_started":
        // Events of one attempt may arrive out of order: a row that showed its end keeps it.
        if (P.rows.ended(rows.get(frame.attempt_id))) return;
        rows.set(frame.attempt_id, P.rows.recordFrom(frame, rows.get(frame.attempt_id)));
        break;
      case "attempt_reopened":
        // The one event that takes a row back from its end: a proctor decided it.
        rows.set(frame.attempt_id, P.rows.recordFrom(frame, rows.get(frame.attempt_id)));
        break;
      case "answer_saved": {
        const record = known(frame);
        if (!record) return;
        // Answers are never taken back, so the count only grows; a late event must not lower
        // it, nor turn an ended row (an end is final) back to "ongoing".
        record.answered = Math.max(record.answered, Number(frame.answered) || 0);
        if (!P.rows.ended(record)) record.status = frame.status || record.status;
        break;
      }
      case "attempt_submitted":
      case "attempt_timeout": {
        const record = known(frame);
        if (!record) return;
        record.status = frame.status || (frame.type === "attempt_timeout" ? "timeout" : "completed");
        record.score = frame.score;
        record.percentage = frame.percentage === undefined ? null : frame.percentage;
        break;
      }
      case "attempt_time_changed": {
        const record = known(frame);
        if (!record || P.rows.ended(record)) return;
        P.rows.setRemaining(record, frame.remaining_seconds);
        record.changeSeconds = Number(frame.change_seconds) || record.changeSeconds;
        P.rows.applyPresence(record, frame); // a credit may carry the credited total
        break;
      }
      case "presence": {
        const record = known(frame);
        if (!record) return;
        P.rows.applyPresence(record, frame);
        break;
      }
      case "announcement":
        P.controls.showAnnouncement(frame);
        return;
      default:
        return;
    }
    P.table.render();
    if (frame.attempt_id !== undefined) P.panel.rowChanged(frame.attempt_id);
    else rows.forEach((record) => P.panel.rowChanged(record.attemptId)); // a snapshot: the open panel's row too
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
      case CLOSE.TOO_MANY:
        tooMany = true;
        return "later"; // another tab holds the places: tried again in 20-40 s
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

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.ExamAuth.requireSignIn()) return;
    P.controls.start(examId);
    socket = new window.LiveSocket("/ws/proctor/exams/" + examId + "/", {
      onFrame: handleFrame,
      onClose: handleClose,
      onWaiting(seconds) {
        const why = tooMany
          ? "Too many dashboards are open for your account; close the ones you do not need. "
          : synced
            ? "Connection lost; the table may be out of date. "
            : "Cannot connect. ";
        showConnection("polling", why + "Reconnecting in " + seconds + " s.");
      },
    });
    socket.start();
    setInterval(P.table.redrawClocks, REDRAW_MS);
  });
})();
