/* The exam page's one state value, the moves allowed between states, and what the page knows
 * of its attempt. Every other exam-*.js file reads the state here and changes it only through
 * transition(), so that no combination of flags can say two things at once.
 *
 *   loading ──► running ◄──► ending          ending: the page's clock reached zero; inputs are
 *      │         │  ▲  ▲        │             locked while the server confirms (it may give
 *      │         ▼  │  └────────┤             time back: then running again)
 *      │      submitting ◄──────┘            submitting: the student's own submit is in flight
 *      ▼         ▼
 *   timed_out | submitted                    final: inputs locked, the result shown
 *
 * loading may also end at once (a zero clock in the start reply), or go to last_result: the
 * server says the student's latest attempt has ended, and the page shows that result instead
 * of starting anything; only the student's click on "Start a new attempt" goes back to
 * loading, to start a new one. last_result is not final: no attempt of this page has ended.
 */
(function () {
  "use strict";

  const MOVES = {
    loading: ["last_result", "running", "ending", "timed_out", "submitted"],
    last_result: ["loading"],
    running: ["ending", "submitting", "timed_out", "submitted"],
    // A confirm dialog opened before zero can still be confirmed: the server answers with
    // the timed-out result, as it does for any submit after the deadline.
    ending: ["running", "submitting", "timed_out", "submitted"],
    submitting: ["running", "timed_out", "submitted"],
    timed_out: [],
    submitted: [],
  };
  const FINAL = ["timed_out", "submitted"];
  // Answers cannot change in these: a change sent now would be refused or would race the end.
  const LOCKED = ["ending", "submitting", "timed_out", "submitted"];

  const listeners = [];
  let current = "loading";

  /**
   * Move to `to` because of `why` (said in the console, for whoever debugs a page). A move the
   * table does not allow is refused and reported, and nothing changes; each allowed move
   * tells every listener once, in the order they registered (the view first).
   */
  function transition(to, why) {
    if (!MOVES[current].includes(to)) {
      console.warn("exam: no move from " + current + " to " + to + " (" + why + ")");
      return false;
    }
    const from = current;
    current = to;
    console.debug("exam: " + from + " -> " + to + " (" + why + ")");
    listeners.forEach((listener) => listener(to, from, why));
    return true;
  }

  const app = document.getElementById("exam-app");

  window.Exam = {
    // What the page knows of its attempt; not state: it never decides what may happen next.
    page: {
      examId: Number(app.dataset.examId),
      attemptId: null, // the attempt this page runs; null until start answers
      lastAttempt: null, // in last_result: the ended attempt shown (the own-attempts row)
      endedByProctor: false, // the attempt's `completed` frame said a proctor ended it
      questions: [],
      saved: {}, // question id -> the option the server holds
    },
    state: () => current,
    isOver: () => FINAL.includes(current),
    isLocked: () => LOCKED.includes(current),
    transition,
    /** listener(to, from, why) after every move. */
    onTransition: (listener) => listeners.push(listener),
    el: (id) => document.getElementById(id),
  };
})();
