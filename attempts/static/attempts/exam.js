/* The student's exam page: start or resume the attempt, load its questions, wire the page.
 *
 * The parts, loaded before this file by exam.html: exam-state.js (the one state value and its
 * moves), exam-view.js (the DOM), exam-clock.js (the countdown), exam-saves.js (answers),
 * exam-socket.js (the server's time), exam-end.js (every way the attempt ends).
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;
  const { ask } = window.ExamRequests;
  const CODES = window.PROTOCOL.errors;
  const REDRAW_MS = 200; // redraw often; the time shown comes from the anchor, not from redraws

  function startFailed(text, label) {
    el("exam-title").textContent = "Exam";
    E.view.showError(text, label, start);
  }

  async function start() {
    E.view.hideError();
    el("exam-title").textContent = "Starting exam…";
    window.LiveSocket.showConnection("connecting", "Starting…");
    const reply = await ask(() => window.ExamAuth.api("/api/exam/timer/start/" + E.page.examId + "/", { method: "POST" }));
    if (reply === null) {
      window.LiveSocket.showConnection("offline", "Offline");
      startFailed("Cannot reach the server. Check your connection and try again.", "Try again");
      return;
    }
    if (!reply.ok) {
      window.LiveSocket.showConnection("ended", "Not started");
      // A 404 has no code (its body is exactly {"detail": "Not found."}): the status says it.
      if (reply.status === 404) {
        startFailed("This exam does not exist.", null);
        return;
      }
      const text = reply.data.error || reply.data.detail || "The exam could not be started (" + reply.status + ").";
      // The timed-out attempt is closed now: the same button begins a fresh one.
      const fresh = reply.data.code === CODES.PreviousAttemptTimedOut;
      startFailed(text, fresh ? "Start a new attempt" : "Try again");
      return;
    }
    E.page.attemptId = reply.data.attempt_id;
    el("exam-title").textContent = reply.data.exam_title;
    document.title = reply.data.exam_title + " · Exam timer";
    E.clock.set(reply.data.remaining_seconds);
    if (reply.data.message) {
      el("exam-note").textContent = reply.data.message + ": your saved answers and the clock are as you left them.";
      el("exam-note").hidden = false;
    }
    await loadQuestions();
  }

  async function loadQuestions() {
    E.view.hideError();
    const reply = await ask(() => window.ExamAuth.api("/api/exam/timer/questions/" + E.page.attemptId + "/"));
    if (!reply || !reply.ok) {
      E.view.showError("The questions could not be loaded.", "Try again", loadQuestions);
      return;
    }
    const saved = reply.data.saved_answers || {};
    E.page.questions = reply.data.questions;
    E.page.saved = Object.assign({}, saved);
    E.view.renderQuestions(reply.data.questions, saved, E.saves.choose);
    E.view.drawProgress();
    el("questions").hidden = false;
    // The clock may have reached zero (ending) or the attempt ended while the questions loaded.
    if (E.state() === "loading") E.transition("running", "the questions are shown");
    if (!E.isOver()) E.serverTime.start();
  }

  function watch() {
    setInterval(() => {
      E.clock.draw();
      E.serverTime.checkStale();
    }, REDRAW_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") E.serverTime.resync();
    });
    window.addEventListener("online", E.saves.retryFailed);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.ExamAuth.requireSignIn()) return;
    el("submit-exam").addEventListener("click", E.view.openSubmitDialog);
    el("confirm-submit").addEventListener("close", () => {
      if (el("confirm-submit").returnValue === "submit") E.end.submitNow();
    });
    el("new-attempt").addEventListener("click", () => {
      E.end.forget();
      location.reload();
    });
    watch();
    const memory = E.end.remembered();
    if (memory) E.end.showRemembered(memory);
    else start();
  });
})();
