/* The exam page's DOM: questions, save lines, errors, the result, and how each state looks.
 *
 * Nothing here decides anything: the other exam-*.js files call these functions, and the
 * look of a state is applied once per move, from the one listener at the end of this file.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;
  const OPTIONS = ["A", "B", "C", "D"];
  const SUBMIT_LABELS = { running: "Submit exam", submitting: "Submitting…", timed_out: "Time is over", submitted: "Submitted" };
  const RESULT_TITLES = {
    submitted: "Exam submitted",
    timeout: "Time expired: your result",
    already_completed: "Already submitted",
    ended_by_proctor: "Exam ended by the proctor",
  };

  const ONCE_WITHIN_MS = 10 * 1000; // the same sentence again this soon is not said again (options.once)
  const lastSaid = {}; // text -> performance.now() it was said

  /**
   * Say `text` to screen readers (politely: never cutting a reader off mid-question).
   * options.once: not if the same sentence was said within 10 s (the clock's own 5 and 1
   * minute lines and the server's warning at the same threshold are one event for the student).
   */
  function announce(text, options) {
    const now = performance.now();
    if (options && options.once && now - (lastSaid[text] || -Infinity) < ONCE_WITHIN_MS) return;
    lastSaid[text] = now;
    const region = el("announcer");
    region.textContent = "";
    // A fresh text node in a new task, so that the same sentence twice is still announced.
    setTimeout(() => {
      region.textContent = text;
    }, 50);
  }

  function showError(text, actionLabel, action) {
    el("page-error-text").textContent = text;
    const button = el("page-error-action");
    button.hidden = !actionLabel;
    button.textContent = actionLabel || "";
    button.onclick = action || null;
    el("page-error").hidden = false;
  }

  function hideError() {
    el("page-error").hidden = true;
  }

  /** Inputs follow the state; called on every move and when the questions are (re)drawn. */
  function applyLock() {
    const locked = E.isLocked();
    document.querySelectorAll("#question-list fieldset").forEach((fieldset) => {
      fieldset.disabled = locked;
    });
    el("questions").classList.toggle("locked", locked);
    el("submit-exam").disabled = locked;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function optionLabel(question, letter, saved, onChoose) {
    const label = element("label", "option");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "question-" + question.id;
    input.value = letter;
    input.checked = saved === letter;
    input.addEventListener("change", () => onChoose(question.id, letter));
    const badge = element("span", "option-letter", letter);
    badge.setAttribute("aria-hidden", "true");
    label.append(input, badge, element("span", "option-text", question["option_" + letter.toLowerCase()]));
    return label;
  }

  /** The questions with the saved choices checked; onChoose(questionId, option) on a change. */
  function renderQuestions(questions, savedAnswers, onChoose) {
    const list = el("question-list");
    list.textContent = "";
    questions.forEach((question, index) => {
      const saved = savedAnswers[String(question.id)];
      const item = element("li", "question");
      item.id = "q-" + question.id;
      item.dataset.questionId = question.id;
      const fieldset = document.createElement("fieldset");
      const legend = document.createElement("legend");
      legend.append(
        element("span", "q-number", "Question " + (index + 1)),
        element("span", "q-marks", question.marks === 1 ? "1 mark" : question.marks + " marks"),
        element("span", "q-text", question.text),
      );
      const options = element("div", "options");
      OPTIONS.forEach((letter) => options.append(optionLabel(question, letter, saved, onChoose)));
      const status = element("p", "save-status", saved ? "Saved" : "");
      status.id = "save-" + question.id;
      status.setAttribute("role", "status");
      status.dataset.state = saved ? "saved" : "idle";
      fieldset.append(legend, options, status);
      item.append(fieldset);
      list.append(item);
    });
    applyLock();
  }

  /** A question's save line; with onRetry, a "Try again" button that calls it. */
  function setSaveStatus(questionId, kind, text, onRetry) {
    const line = el("save-" + questionId);
    if (!line) return;
    line.dataset.state = kind;
    line.textContent = text;
    if (onRetry) {
      const button = element("button", "link-button", "Try again");
      button.type = "button";
      button.addEventListener("click", () => onRetry(questionId));
      line.append(" ", button);
    }
  }

  function drawProgress() {
    el("progress").textContent = "Answered " + Object.keys(E.page.saved).length + " of " + E.page.questions.length;
  }

  function openSubmitDialog() {
    const answered = Object.keys(E.page.saved).length;
    const total = E.page.questions.length;
    const unanswered = total - answered;
    el("confirm-text").textContent =
      "You have answered " + answered + " of " + total + " questions" +
      (unanswered > 0 ? " (" + unanswered + " unanswered)" : "") +
      ". You cannot change your answers after submitting.";
    const dialog = el("confirm-submit");
    dialog.returnValue = "";
    dialog.showModal();
    el("confirm-cancel").focus();
  }

  function resultShown() {
    return !el("result").hidden;
  }

  /** The result card; offerNew: the result of an earlier attempt, with the way to a new one. */
  function showResult(data, offerNew) {
    el("result-score").textContent = String(data.score);
    el("result-total").textContent = String(data.total_marks);
    el("result-percentage").textContent = data.percentage + "%";
    el("result-correct").textContent =
      data.correct_answers === undefined ? "—" : data.correct_answers + " of " + data.total_questions;
    const minutes = data.time_taken_minutes;
    el("result-time").textContent =
      minutes === undefined || minutes === null ? "—" : minutes < 1 ? "< 1 min" : minutes + " min";
    el("result-title").textContent = RESULT_TITLES[data.status] || "Your result";
    const message = el("result-message");
    message.hidden = !data.message;
    message.textContent = data.message || "";
    el("result-actions").hidden = !offerNew;
    const section = el("result");
    section.dataset.status = data.status;
    section.hidden = false;
    section.focus();
    announce("Your score: " + data.score + " of " + data.total_marks + " marks, " + data.percentage + " percent.");
  }

  function hideResult() {
    el("result").hidden = true;
    delete el("result").dataset.status;
  }

  // How each state looks: the one place the page is updated for a move.
  E.onTransition((to) => {
    el("exam-app").dataset.state = to;
    applyLock();
    if (SUBMIT_LABELS[to]) el("submit-exam").textContent = SUBMIT_LABELS[to];
    if (to === "ending") window.LiveSocket.showConnection("ending", "Time is up. Confirming with the server…");
    if (to === "timed_out") window.LiveSocket.showConnection("ended", window.PROTOCOL.messages.timeout);
    if (to === "submitted") window.LiveSocket.showConnection("done", "Exam submitted");
  });

  E.view = {
    announce,
    showError,
    hideError,
    applyLock,
    renderQuestions,
    setSaveStatus,
    drawProgress,
    openSubmitDialog,
    resultShown,
    showResult,
    hideResult,
  };
})();
