/* The student's exam page: ask the server for the student's latest attempt, then resume it,
 * show how it ended, or start one; load the questions, wire the page.
 *
 * The parts, loaded before this file by exam.html: exam-state.js (the one state value and its
 * moves), exam-view.js (the DOM), exam-clock.js (the countdown), exam-saves.js (answers),
 * exam-notices.js and exam-live.js (the proctor's changes, warnings and announcements),
 * exam-socket.js (the server's time and frames), exam-end.js (every way the attempt ends),
 * exam-signin.js (signing in again on the page when the session ended).
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;
  const { ask } = window.ExamRequests;
  const CODES = window.PROTOCOL.errors;
  const REDRAW_MS = 200; // redraw often; the time shown comes from the deadline estimate, not from redraws

  let askedAgain = false; // start refused a just-timed-out attempt and the list was asked again

  function startFailed(text, label, action) {
    el("exam-title").textContent = "Exam";
    E.view.showError(text, label, action || start);
  }

  /**
   * What the server says of the student's attempts decides what the page does: an ongoing
   * one (the latest, or an older one a proctor reopened) is resumed; else the latest ended one
   * is shown with its result (a new attempt only on the student's click: `start` would quietly
   * begin one with a fresh countdown); with none, one is started.
   * The server, not this tab, knows: the attempt may have timed out while no tab was open.
   */
  async function begin() {
    E.view.hideError();
    el("exam-title").textContent = "Loading exam…";
    window.LiveSocket.showConnection("connecting", "Loading…");
    const reply = await ask(() => window.ExamAuth.api("/api/exam/timer/attempts/" + E.page.examId + "/"));
    if (reply === null) {
      window.LiveSocket.showConnection("offline", "Offline");
      startFailed("Cannot reach the server. Check your connection and try again.", "Try again", begin);
      return;
    }
    if (!reply.ok) {
      window.LiveSocket.showConnection("ended", "Not started");
      if (reply.status === 404) startFailed("This exam does not exist.", null);
      else startFailed(reply.data.error || "The exam could not be loaded (" + reply.status + ").", "Try again", begin);
      return;
    }
    // An ongoing attempt first, newest or not: a proctor may have reopened an older one.
    const attempts = reply.data.attempts;
    const latest = attempts[0];
    if (attempts.some((attempt) => attempt.status === "ongoing") || !latest) await start();
    else showLastResult(reply.data.exam_title, latest);
  }

  /** The latest attempt ended (while away, or before a reload): its result, and the way to a new one. */
  function showLastResult(title, latest) {
    E.page.lastAttempt = latest;
    el("exam-title").textContent = title;
    document.title = title + " · Exam timer";
    E.transition("last_result", "the latest attempt has ended (" + latest.status + ")");
    const timedOut = latest.status === "timeout";
    window.LiveSocket.showConnection("ended", timedOut ? "Last attempt: time expired" : "Last attempt: submitted");
    const taken =
      latest.ended_at && latest.started_at
        ? Math.round((Date.parse(latest.ended_at) - Date.parse(latest.started_at)) / 60000)
        : null;
    E.view.showResult(
      {
        status: timedOut ? "timeout" : "submitted",
        score: latest.score,
        total_marks: latest.total_marks,
        percentage: latest.percentage,
        time_taken_minutes: taken,
        message: timedOut
          ? "Your last attempt ended when its time ran out; the answers saved by then were scored."
          : "Your last attempt was submitted.",
      },
      true,
    );
  }

  /** The student asked for a new attempt: only here does a page begin one after an ended one. */
  function startNew() {
    if (E.state() !== "last_result") return;
    el("new-attempt").disabled = true;
    E.view.hideResult();
    E.page.lastAttempt = null;
    E.transition("loading", "the student asked for a new attempt");
    start();
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
      // Listed ongoing, but its deadline passed before start looked: start ended it, and the
      // list now has its result. Asked once only: a second refusal is shown, not looped on.
      if (reply.data.code === CODES.PreviousAttemptTimedOut && !askedAgain) {
        askedAgain = true;
        await begin();
        return;
      }
      startFailed(text, "Try again");
      return;
    }
    E.page.attemptId = reply.data.attempt_id;
    el("exam-title").textContent = reply.data.exam_title;
    document.title = reply.data.exam_title + " · Exam timer";
    // Whole seconds, rounded up: a deadline estimate at most a second late, which the first
    // tick or poll (exact milliseconds) brings to the true one.
    E.clock.observe(reply.data.remaining_seconds * 1000);
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
    E.notices.announcements(reply.data.announcements); // those posted before this load: still shown until dismissed
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
    // The browser back online, or the server heard from again: what failed is sent again.
    window.addEventListener("online", E.saves.retryFailed);
    window.ExamRequests.onReachable(E.saves.retryFailed);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.ExamAuth.requireSignIn()) return;
    el("submit-exam").addEventListener("click", E.view.openSubmitDialog);
    el("confirm-submit").addEventListener("close", () => {
      if (el("confirm-submit").returnValue === "submit") E.end.submitNow();
    });
    el("new-attempt").addEventListener("click", startNew);
    watch();
    begin();
  });
})();
