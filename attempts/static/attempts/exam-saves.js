/* Saving answers: each question's latest choice reaches the server, once, in order.
 *
 * One saver a question: a change made while a save is in flight is sent after it, so the
 * server ends with the last choice and never two requests race for one question. Passing
 * failures are retried (three retries, then the student is told and can try again); a refusal
 * is the server's answer, recognised by its `code`. A save that failed is sent again by
 * itself as soon as the server is heard from again, and at the latest by the submit: the
 * score must count every choice the student made.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const { retry, isTransient } = window.ExamRequests;
  const CODES = window.PROTOCOL.errors;
  const SAVE_RETRY_DELAYS_MS = [1000, 2000, 4000];

  const savers = {}; // question id -> {wanted, running, promise, failed}

  /** Save the student's latest choice for a question; changes made meanwhile are sent after. */
  function choose(questionId, option) {
    if (E.isOver()) return;
    const saver = savers[questionId] || (savers[questionId] = { wanted: null, running: false });
    saver.wanted = option;
    saver.failed = false;
    if (!saver.running) saver.promise = runSaver(questionId, saver);
    updateLeaveGuard();
  }

  /** Send again the choice still checked (the "Try again" button, the browser back online). */
  function retrySave(questionId) {
    const checked = document.querySelector('input[name="question-' + questionId + '"]:checked');
    if (checked) choose(questionId, checked.value);
  }

  /** Send again every save that failed (and is not being sent again already). */
  function retryFailed() {
    // Object keys are strings; the server wants the question id as a number.
    Object.keys(savers).forEach((id) => savers[id].failed && !savers[id].running && retrySave(Number(id)));
  }

  async function runSaver(questionId, saver) {
    saver.running = true;
    try {
      while (saver.wanted !== null && !E.isOver()) {
        const option = saver.wanted;
        saver.wanted = null;
        E.view.setSaveStatus(questionId, "saving", "Saving…");
        const outcome = await save(questionId, option);
        if (outcome === "refused") return;
        // Per choice: a failure of an older choice is forgotten once a newer one is saved.
        saver.failed = outcome === "failed";
        if (outcome === "saved") {
          E.page.saved[String(questionId)] = option;
          E.view.drawProgress();
        }
        // A newer choice is waiting: its own save line follows.
        if (saver.wanted !== null) continue;
        if (outcome === "saved") E.view.setSaveStatus(questionId, "saved", "Saved");
        else E.view.setSaveStatus(questionId, "failed", "Not saved: the server cannot be reached.", retrySave);
      }
    } finally {
      saver.running = false;
      updateLeaveGuard();
    }
  }

  /** One choice to the server: "saved", "failed" (out of reach after the retries) or "refused". */
  async function save(questionId, option) {
    const request = retry(
      () =>
        window.ExamAuth.api("/api/exam/timer/submit-answer/", {
          method: "POST",
          body: { attempt_id: E.page.attemptId, question_id: questionId, selected_option: option },
        }),
      {
        delays: SAVE_RETRY_DELAYS_MS,
        stop: E.isOver,
        onRetry(number, retries) {
          E.view.setSaveStatus(questionId, "retrying", "Not saved yet, retrying (" + number + " of " + retries + ")…");
        },
      },
    );
    const { reply } = await request.done;
    if (reply && reply.ok) return "saved";
    if (isTransient(reply)) return "failed";
    const text = reply.data.error;
    if (reply.data.code === CODES.TimeExpired) {
      E.view.setSaveStatus(questionId, "failed", text || window.PROTOCOL.messages.timeout);
      E.endExam("timed_out", "a save was refused: " + reply.data.code);
      return "refused";
    }
    E.view.setSaveStatus(questionId, "failed", "Not saved: " + (text || "refused (" + reply.status + ")."));
    if (reply.data.code === CODES.AttemptAlreadySubmitted) {
      E.endExam("submitted", "a save was refused: " + reply.data.code);
    }
    return "refused";
  }

  /** Resolves when every save started so far has finished, saved or not. */
  function settled() {
    return Promise.all(Object.values(savers).map((saver) => saver.promise));
  }

  /**
   * Before the submit: send again every save that failed its retries (each with its retries
   * again), wait for those and for the ones in flight. Resolves to the number of questions
   * whose latest choice is still not saved.
   */
  async function flush() {
    retryFailed();
    await settled();
    return Object.values(savers).filter((saver) => saver.failed).length;
  }

  function updateLeaveGuard() {
    const pending = Object.values(savers).some((saver) => saver.running || saver.failed);
    window.onbeforeunload = !E.isOver() && pending ? () => "Some answers are not saved yet." : null;
  }

  E.onTransition(updateLeaveGuard);
  E.saves = { choose, retrySave, retryFailed, flush };
})();
