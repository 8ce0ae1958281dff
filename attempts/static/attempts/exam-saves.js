/* Saving answers: each question's latest choice reaches the server, once, in order, and every
 * open tab of the attempt shows the same choices.
 *
 * One saver a question: a change made while a save is in flight is sent after it, so the
 * server ends with the last choice and never two requests of this tab race for one question.
 * Passing failures are retried (three retries after random waits of up to 1, 2 and 4 s, then the
 * student is told and can try again); a 429 or 503 with Retry-After is waited out and sent
 * again, without using up a retry and without limit (retry.js); a refusal is the server's
 * answer, recognised by its `code`. A save that failed is sent again by
 * itself as soon as the server is heard from again, and at the latest by the submit: the score
 * must count every choice the student made.
 *
 * Other tabs: every save carries `chosen_at`, when the student made the choice by this page's
 * clock, and every retry of it the same time, never the retry's. The server keeps the latest
 * choice and refuses an older one with 409 answer_superseded, naming the choice it keeps; this
 * tab then shows that choice, quietly. Each save the server keeps reaches every tab as an
 * `answer_saved` frame: a question with nothing of this tab's in flight shows it at once; one
 * with a save in flight shows the student's own choice until the server has answered it, and
 * if another tab's choice was heard meanwhile the server is asked which one it kept.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const { ask, retry, isTransient } = window.ExamRequests;
  const Pace = window.Pace;
  const CODES = window.PROTOCOL.errors;
  // Three retries, the n-th after a random wait of up to 1 s · 2^n (pace.js): the saves that a
  // server restart failed together are not sent again together.
  const SAVE_RETRIES = 3;
  const SAVE_RETRY_FIRST_MS = 1000;
  const SAVE_RETRY_MAX_MS = 4000;

  // question id -> {wanted, running, promise, failed, last, heard}: `wanted` the choice waiting
  // to be sent, `last` the latest choice sent ({option, chosenAt}), `heard` the option of the
  // latest answer_saved frame that came while this tab's own save was unsettled.
  const savers = {};

  function saverOf(questionId) {
    return savers[questionId] || (savers[questionId] = { wanted: null, running: false, last: null, heard: null });
  }

  /** Whether this tab has a choice of its own for the question that the server has not settled. */
  function busy(saver) {
    return saver.running || saver.wanted !== null || saver.failed;
  }

  /** Save the student's choice for a question, made now; changes made meanwhile are sent after. */
  function choose(questionId, option) {
    queue(questionId, { option, chosenAt: new Date().toISOString() });
  }

  function queue(questionId, choice) {
    if (E.isOver()) return;
    const saver = saverOf(questionId);
    saver.wanted = choice;
    saver.failed = false;
    if (!saver.running) saver.promise = runSaver(questionId, saver);
    updateLeaveGuard();
  }

  /** Send again the choice that failed, with the time it was made (the "Try again" button, back online). */
  function retrySave(questionId) {
    const saver = savers[questionId];
    if (saver && saver.failed && saver.last) queue(questionId, saver.last);
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
        const choice = saver.wanted;
        saver.wanted = null;
        saver.last = choice;
        E.view.setSaveStatus(questionId, "saving", "Saving…");
        const outcome = await save(questionId, choice, saver);
        if (outcome.result === "refused") return;
        // Per choice: a failure of an older choice is forgotten once a newer one is saved.
        saver.failed = outcome.result === "failed";
        if (outcome.result === "saved") kept(questionId, choice.option);
        // A newer choice is waiting: its own save line follows (and says how it went).
        if (saver.wanted !== null) continue;
        if (outcome.result === "saved") {
          E.view.setSaveStatus(questionId, "saved", "Saved");
        } else if (outcome.result === "superseded") {
          // Another tab chose later: its choice is the student's latest. Shown, not an error.
          show(questionId, outcome.stored, "Saved in another tab");
        } else {
          E.view.setSaveStatus(questionId, "failed", "Not saved: the server cannot be reached.", retrySave);
        }
      }
    } finally {
      saver.running = false;
      updateLeaveGuard();
    }
    settleHeard(questionId, saver);
  }

  /** The server keeps `option` for the question: the page's count of answers follows. */
  function kept(questionId, option) {
    E.page.saved[String(questionId)] = option;
    E.view.drawProgress();
  }

  /** Show `option` as the question's saved choice (another tab's, or the server's word). */
  function show(questionId, option, text) {
    const input = document.querySelector('input[name="question-' + questionId + '"][value="' + option + '"]');
    if (!input) return;
    const changed = !input.checked;
    input.checked = true; // a programmatic check: no change event, no save, the focus stays where it is
    kept(questionId, option);
    E.view.setSaveStatus(questionId, "saved", changed ? text : "Saved");
  }

  function checkedOption(questionId) {
    const checked = document.querySelector('input[name="question-' + questionId + '"]:checked');
    return checked ? checked.value : null;
  }

  /**
   * Frame `answer_saved`: a save of this attempt was kept, from this tab or another. Shown at
   * once unless this tab has a choice of its own in flight for that question: then its own
   * save's answer decides, and what was heard meanwhile is checked afterwards.
   */
  function heard(frame) {
    if (E.isOver() || !frame.question_id || !frame.selected_option) return;
    const questionId = Number(frame.question_id);
    const saver = saverOf(questionId);
    if (busy(saver)) {
      saver.heard = frame.selected_option;
      return;
    }
    saver.heard = null;
    show(questionId, frame.selected_option, "Saved in another tab");
  }

  /**
   * Another tab's choice was heard while this tab's own save was in flight. Which of the two the
   * server kept depends on the order of their commits, which the frames do not say: ask it.
   */
  async function settleHeard(questionId, saver) {
    const other = saver.heard;
    if (other === null || busy(saver) || E.isOver()) return; // still unsettled: checked when it is
    saver.heard = null;
    if (other === checkedOption(questionId)) return;
    const reply = await ask(() => window.ExamAuth.api("/api/exam/timer/questions/" + E.page.attemptId + "/"));
    if (!reply || !reply.ok || busy(saver) || saver.heard !== null) return; // a newer word came meanwhile
    adopt({ [questionId]: (reply.data.saved_answers || {})[String(questionId)] });
  }

  /** The server's saved answers (a reconnect, a check): shown for every question with nothing of this tab's in flight. */
  function adopt(savedAnswers) {
    if (E.isOver()) return;
    Object.keys(savedAnswers || {}).forEach((id) => {
      const option = savedAnswers[id];
      if (!option || (savers[id] && busy(savers[id]))) return;
      if (option !== checkedOption(Number(id))) show(Number(id), option, "Saved in another tab");
    });
  }

  /**
   * One choice to the server: {result: "saved" | "failed" (out of reach after the retries, or
   * given up for a newer choice) | "refused" | "superseded", stored}.
   */
  async function save(questionId, choice, saver) {
    // Built once: every retry sends the same body, with the time the choice was made.
    const body = {
      attempt_id: E.page.attemptId,
      question_id: questionId,
      selected_option: choice.option,
      chosen_at: choice.chosenAt,
    };
    const request = retry(
      () => window.ExamAuth.api("/api/exam/timer/submit-answer/", { method: "POST", body }),
      {
        kind: "save",
        delays: Array.from({ length: SAVE_RETRIES }, (_, n) => Pace.backoff(n, SAVE_RETRY_FIRST_MS, SAVE_RETRY_MAX_MS)),
        // A newer choice waits: it is sent instead of this one again (it would replace it anyway).
        stop: () => E.isOver() || saver.wanted !== null,
        onRetry(number, retries) {
          E.view.setSaveStatus(questionId, "retrying", "Not saved yet, retrying (" + number + " of " + retries + ")…");
        },
        onHold(ms) {
          E.view.setSaveStatus(questionId, "retrying", "Saving… the server asked us to wait " + Pace.seconds(ms) + " s.");
        },
      },
    );
    const { reply } = await request.done;
    if (reply && reply.ok) return { result: "saved" };
    if (isTransient(reply)) return { result: "failed" };
    const text = reply.data.error;
    if (reply.data.code === CODES.AnswerSuperseded) return { result: "superseded", stored: reply.data.selected_option };
    if (reply.data.code === CODES.TimeExpired) {
      E.view.setSaveStatus(questionId, "failed", text || window.PROTOCOL.messages.timeout);
      E.endExam("timed_out", "a save was refused: " + reply.data.code);
      return { result: "refused" };
    }
    E.view.setSaveStatus(questionId, "failed", "Not saved: " + (text || "refused (" + reply.status + ")."));
    if (reply.data.code === CODES.AttemptAlreadySubmitted) {
      E.endExam("submitted", "a save was refused: " + reply.data.code);
    }
    return { result: "refused" };
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
  E.saves = { choose, retrySave, retryFailed, flush, heard, adopt };
})();
