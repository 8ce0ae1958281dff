/* The end of the attempt: one path for every way it ends, the submit and the result. After a
 * reload the server says how the latest attempt ended (exam.js asks it first), not this tab.
 *
 * However the end is learned (a timeout or completed frame, a TIMEOUT close, `remaining`
 * saying so, a save refused with time_expired or already_submitted, the submit's reply),
 * it goes through endExam(), which moves the state once and shows the result once.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;
  const { ask, retry, isTransient } = window.ExamRequests;
  const Pace = window.Pace;
  // Four retries, the n-th after a random wait of up to 1 s · 2^n (pace.js).
  const RESULT_RETRIES = 4;
  const RESULT_RETRY_FIRST_MS = 1000;
  const RESULT_RETRY_MAX_MS = 8000;
  // An end the server announces (a shared deadline's timeout frames, a proctor ending the
  // exam) reaches every page at once: their result requests are spread over 2 s. The end
  // itself is shown at once; only the score comes up to 2 s later.
  const RESULT_SPREAD_MS = 2000;
  const ENDED_BY_PROCTOR = {
    status: "ended_by_proctor",
    message: "The proctor ended your exam. The answers saved until then were scored.",
  };

  function submitUrl() {
    return "/api/exam/timer/submit/" + E.page.attemptId + "/";
  }

  /**
   * The attempt ended as `kind` ("timed_out" or "submitted") because of `why`. `result`, when
   * the caller has it (the submit's reply), is shown; otherwise it is asked for.
   */
  function endExam(kind, why, result) {
    if (E.isOver()) {
      if (result && !E.view.resultShown()) showResult(result);
      return;
    }
    // While our own submit is in flight its `completed` frame is expected: its reply has the result.
    if (E.state() === "submitting" && kind === "submitted" && !result) return;
    E.transition(kind, why);
    E.clock.stop();
    if (kind === "timed_out") {
      el("expired-banner").hidden = false;
      if (!result) E.view.announce("Exam time has expired. Your answers are locked.");
    }
    if (kind === "submitted" && E.page.endedByProctor) {
      el("ended-banner").hidden = false;
      window.LiveSocket.showConnection("ended", window.PROTOCOL.messages.ended_by_proctor);
      E.view.announce(window.PROTOCOL.messages.ended_by_proctor + ". Your answers are locked.");
    }
    if (result) showResult(result);
    else fetchResult();
  }

  /** The result of an ended attempt: `submit` answers it every time it is asked. */
  async function fetchResult() {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * RESULT_SPREAD_MS));
    const { reply } = await retry(() => window.ExamAuth.api(submitUrl(), { method: "POST" }), {
      kind: "result",
      delays: Array.from({ length: RESULT_RETRIES }, (_, n) => Pace.backoff(n, RESULT_RETRY_FIRST_MS, RESULT_RETRY_MAX_MS)),
    }).done;
    if (reply && reply.ok) {
      if (!E.view.resultShown()) showResult(reply.data);
    } else if (isTransient(reply)) {
      E.view.showError("Your answers are saved, but the result could not be loaded. Reload the page to see it.");
    } else {
      E.view.showError(reply.data.error || "Could not load your result (" + reply.status + ").");
    }
  }

  /** The student confirmed: send the choices made before the click, then submit once. */
  async function submitNow() {
    // The dialog may have stayed open past zero (ending) but not past the end itself.
    if (E.state() !== "running" && E.state() !== "ending") return;
    E.transition("submitting", "the student confirmed the submit");
    // Choices made before the click go first, those that failed sent again: the score counts
    // what the student chose. One still out of reach stops the submit: submitting now would
    // score the attempt without it, for good.
    const unsaved = await E.saves.flush();
    if (unsaved > 0 && E.state() === "submitting") {
      E.transition("running", "answers could not be saved before the submit");
      E.view.showError(
        (unsaved === 1 ? "One answer is" : unsaved + " answers are") +
          " not saved: the server cannot be reached. Nothing was submitted; try submitting again.",
      );
      return;
    }
    if (E.state() !== "submitting") return; // the attempt ended meanwhile (endExam showed it)
    const reply = await ask(() => window.ExamAuth.api(submitUrl(), { method: "POST" }));
    if (reply && reply.ok) {
      endExam(reply.data.status === "timeout" ? "timed_out" : "submitted", "the submit's reply", reply.data);
      return;
    }
    if (E.state() === "submitting") E.transition("running", "the submit failed");
    E.view.showError(
      reply
        ? reply.data.error || "Submitting failed (" + reply.status + "). Try again."
        : "Cannot reach the server. Your answers are saved; try submitting again.",
    );
  }

  function showResult(data) {
    // The submit of an attempt a proctor ended answers "already_completed": say who ended it instead.
    const byProctor = E.page.endedByProctor && data.status !== "submitted" && data.status !== "timeout";
    E.view.showResult(byProctor ? Object.assign({}, data, ENDED_BY_PROCTOR) : data, false);
  }

  E.endExam = endExam;
  E.end = { submitNow };
})();
