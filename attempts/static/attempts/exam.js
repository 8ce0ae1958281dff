/* The student's exam page: start or resume, answer, follow the server's clock, submit.
 *
 * The clock belongs to the server. The page shows the last value the server sent (a socket
 * tick, or a `remaining` poll when the socket is down) minus the time elapsed since, measured
 * with performance.now(): a monotonic clock that a background tab's throttled timers or a
 * change of the computer's clock cannot bend.
 */
(function () {
  "use strict";

  const POLL_INTERVAL_MS = 10 * 1000; // the design document's client checks `remaining` every 10 s
  const STALE_TICK_MS = 5 * 1000; // an open socket that sent no tick this long is not trusted alone
  const END_CHECK_INTERVAL_MS = 1000; // at zero on the page's clock, ask the server each second
  const REDRAW_MS = 200; // redraw often; the time shown comes from the anchor, not from redraws
  const WARNING_SECONDS = 5 * 60;
  const DANGER_SECONDS = 60;
  const SAVE_RETRY_DELAYS_MS = [1000, 2000, 4000]; // three retries, then the student is told
  const RESULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];
  const OPTIONS = ["A", "B", "C", "D"];

  const app = document.getElementById("exam-app");
  const examId = Number(app.dataset.examId);
  // Per user: another student signing in on this tab must not see this one's result.
  const ENDED_KEY = "examtimer.ended." + ((window.ExamAuth.load() || {}).username || "") + "." + examId;
  const el = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const state = {
    attemptId: null,
    questions: [],
    over: false, // timed out or submitted: the inputs stay locked
    ending: false, // the page's clock reached zero; waiting for the server to confirm
    submitting: false,
    resultShown: false,
    endKind: null, // "timeout" or "completed" once over
    saved: {}, // question id -> the option the server holds
    savers: {}, // question id -> {wanted, running, promise, failed}
    socket: null,
    pollTimer: null,
    endCheckTimer: null,
    lastTickAt: 0,
  };

  // --- the clock ---------------------------------------------------------------------------

  const clock = {
    anchorSeconds: null,
    anchorAt: 0,
    set(seconds) {
      this.anchorSeconds = Math.max(0, Number(seconds) || 0);
      this.anchorAt = performance.now();
      drawClock();
    },
    left() {
      if (this.anchorSeconds === null) return null;
      return Math.max(0, this.anchorSeconds - (performance.now() - this.anchorAt) / 1000);
    },
  };

  function drawClock() {
    const left = clock.left();
    if (left === null) return;
    const whole = Math.ceil(left);
    const box = el("clock");
    el("clock-value").textContent = window.formatCountdown(whole);
    box.dataset.remaining = left.toFixed(1);
    box.setAttribute("aria-label", "Time left: " + window.formatCountdown(whole));
    let level = left <= DANGER_SECONDS ? "danger" : left <= WARNING_SECONDS ? "warning" : "normal";
    if (state.over) level = state.endKind === "timeout" ? "danger" : "ended";
    if (level !== box.dataset.state) {
      const before = box.dataset.state;
      box.dataset.state = level;
      if (!state.over) announceLevel(level, before, whole);
    }
    if (left <= 0 && !state.over && state.attemptId !== null) reachedZero();
  }

  function announceLevel(level, before, whole) {
    // Crossing the line says the round number; arriving below it (a resume) says "less than".
    const crossed = before === "normal" || (before === "warning" && level === "danger");
    if (level === "warning") {
      announce(crossed && whole >= WARNING_SECONDS - 10 ? "5 minutes left." : "Less than 5 minutes left.");
    } else if (level === "danger") {
      announce(crossed && whole >= DANGER_SECONDS - 10 ? "1 minute left." : "Less than 1 minute left.");
    }
  }

  function announce(text) {
    const region = el("announcer");
    region.textContent = "";
    // A fresh text node in a new task, so that the same sentence twice is still announced.
    setTimeout(() => {
      region.textContent = text;
    }, 50);
  }

  function showConnection(kind, text) {
    const line = el("connection");
    line.dataset.state = kind;
    line.textContent = text;
  }

  // --- the server's view of the time: socket first, polling when it is down ---------------

  function startSocket() {
    state.socket = new window.LiveSocket("/ws/attempts/" + state.attemptId + "/", {
      onFrame: handleFrame,
      onClose: handleClose,
      onWaiting(delayMs) {
        const seconds = Math.max(1, Math.round(delayMs / 1000));
        showConnection("polling", "Live clock unavailable: checking the time every 10 s. Reconnecting in " + seconds + " s.");
        startPolling();
      },
    });
    state.socket.start();
  }

  function handleFrame(frame) {
    if (frame.type === "tick") {
      state.lastTickAt = performance.now();
      stopPolling();
      showConnection("live", "Live");
      if (state.over) return;
      clock.set(frame.remaining_seconds);
      if (state.ending && frame.remaining_seconds > 0) resumeAfterFalseZero();
    } else if (frame.type === "timeout") {
      finishTimeout();
    } else if (frame.type === "completed") {
      finishElsewhere();
    } else if (frame.type === "error") {
      console.warn("socket error frame:", frame.message);
    }
  }

  function handleClose(code) {
    if (state.over) return "stop";
    if (code === 4408) {
      finishTimeout();
      return "stop";
    }
    if (code === 4401) return "reauth";
    if (code === 4403 || code === 4404) {
      showError(code === 4403 ? "This exam attempt does not belong to you." : "This exam attempt no longer exists.");
      return "stop";
    }
    return "reconnect"; // 1000 without a frame, 1006, a server restart: come back
  }

  function startPolling() {
    if (state.pollTimer !== null || state.over) return;
    poll();
    state.pollTimer = setInterval(poll, POLL_INTERVAL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  /** Ask `remaining` once and act on its answer; resolves to the status, or null on failure. */
  async function poll() {
    if (state.over || state.attemptId === null) return null;
    let reply;
    try {
      reply = await window.ExamAuth.api("/api/exam/timer/remaining/" + state.attemptId + "/");
    } catch (error) {
      showConnection("offline", "Cannot reach the server. The clock keeps counting; retrying.");
      return null;
    }
    if (!reply.ok) return null;
    if (reply.data.status === "running") {
      clock.set(reply.data.remaining_seconds);
      if (state.ending && reply.data.remaining_seconds > 0) resumeAfterFalseZero();
    } else if (reply.data.status === "timeout") {
      finishTimeout();
    } else if (reply.data.status === "completed") {
      finishElsewhere();
    }
    return reply.data.status;
  }

  function reachedZero() {
    if (state.ending) return;
    // Lock at once: an answer sent now would arrive after the deadline and be refused.
    state.ending = true;
    setLocked(true);
    showConnection("ending", "Time is up. Confirming with the server…");
    poll();
    state.endCheckTimer = setInterval(poll, END_CHECK_INTERVAL_MS);
  }

  function resumeAfterFalseZero() {
    // The server still gives time (our anchor was stale): the student gets it back.
    state.ending = false;
    clearInterval(state.endCheckTimer);
    state.endCheckTimer = null;
    setLocked(false);
  }

  // --- the questions and saving answers ---------------------------------------------------

  function renderQuestions(questions, savedAnswers) {
    const list = el("question-list");
    list.textContent = "";
    questions.forEach((question, index) => {
      const item = document.createElement("li");
      item.className = "question";
      item.id = "q-" + question.id;
      item.dataset.questionId = question.id;

      const fieldset = document.createElement("fieldset");
      const legend = document.createElement("legend");
      const number = document.createElement("span");
      number.className = "q-number";
      number.textContent = "Question " + (index + 1);
      const marks = document.createElement("span");
      marks.className = "q-marks";
      marks.textContent = question.marks === 1 ? "1 mark" : question.marks + " marks";
      const text = document.createElement("span");
      text.className = "q-text";
      text.textContent = question.text;
      legend.append(number, marks, text);
      fieldset.append(legend);

      const options = document.createElement("div");
      options.className = "options";
      OPTIONS.forEach((letter) => {
        const label = document.createElement("label");
        label.className = "option";
        const input = document.createElement("input");
        input.type = "radio";
        input.name = "question-" + question.id;
        input.value = letter;
        input.checked = savedAnswers[String(question.id)] === letter;
        input.addEventListener("change", () => choose(question.id, letter));
        const badge = document.createElement("span");
        badge.className = "option-letter";
        badge.textContent = letter;
        badge.setAttribute("aria-hidden", "true");
        const body = document.createElement("span");
        body.className = "option-text";
        body.textContent = question["option_" + letter.toLowerCase()];
        label.append(input, badge, body);
        options.append(label);
      });
      fieldset.append(options);

      const status = document.createElement("p");
      status.className = "save-status";
      status.id = "save-" + question.id;
      status.setAttribute("role", "status");
      status.dataset.state = savedAnswers[String(question.id)] ? "saved" : "idle";
      status.textContent = savedAnswers[String(question.id)] ? "Saved" : "";
      fieldset.append(status);
      item.append(fieldset);
      list.append(item);
    });
    state.saved = Object.assign({}, savedAnswers);
    drawProgress();
  }

  function setSaveStatus(questionId, kind, text, retry) {
    const line = el("save-" + questionId);
    if (!line) return;
    line.dataset.state = kind;
    line.textContent = text;
    if (retry) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.textContent = "Try again";
      button.addEventListener("click", () => retrySave(questionId));
      line.append(" ", button);
    }
  }

  function drawProgress() {
    const answered = Object.keys(state.saved).length;
    el("progress").textContent = "Answered " + answered + " of " + state.questions.length;
  }

  /** Save the student's latest choice for a question; changes made meanwhile are sent after. */
  function choose(questionId, option) {
    if (state.over) return;
    const saver = state.savers[questionId] || (state.savers[questionId] = { wanted: null, running: false });
    saver.wanted = option;
    saver.failed = false;
    if (!saver.running) saver.promise = runSaver(questionId, saver);
    updateLeaveGuard();
  }

  function retrySave(questionId) {
    const checked = document.querySelector('input[name="question-' + questionId + '"]:checked');
    if (checked) choose(questionId, checked.value);
  }

  async function runSaver(questionId, saver) {
    saver.running = true;
    try {
      while (saver.wanted !== null && !state.over) {
        const option = saver.wanted;
        saver.wanted = null;
        setSaveStatus(questionId, "saving", "Saving…");
        const outcome = await saveWithRetries(questionId, option);
        if (outcome === "saved") {
          state.saved[String(questionId)] = option;
          drawProgress();
          if (saver.wanted === null) setSaveStatus(questionId, "saved", "Saved");
        } else if (outcome === "failed") {
          saver.failed = true;
          if (saver.wanted === null) {
            setSaveStatus(questionId, "failed", "Not saved: the server cannot be reached.", true);
          }
        } else if (outcome === "refused") {
          return;
        }
      }
    } finally {
      saver.running = false;
      updateLeaveGuard();
    }
  }

  async function saveWithRetries(questionId, option) {
    for (let attempt = 0; ; attempt += 1) {
      let reply = null;
      try {
        reply = await window.ExamAuth.api("/api/exam/timer/submit-answer/", {
          method: "POST",
          body: { attempt_id: state.attemptId, question_id: questionId, selected_option: option },
        });
      } catch (error) {
        reply = null; // the network failed: retry below
      }
      if (reply && reply.ok) return "saved";
      if (reply && reply.status === 410) {
        setSaveStatus(questionId, "failed", reply.data.error || "Exam time has expired. Cannot submit answers.");
        finishTimeout();
        return "refused";
      }
      if (reply && reply.status >= 400 && reply.status < 500 && reply.status !== 408 && reply.status !== 429) {
        // The server understood and said no: retrying would get the same answer.
        setSaveStatus(questionId, "failed", "Not saved: " + (reply.data.error || "refused (" + reply.status + ")."));
        if (reply.status === 400 && /already submitted/i.test(reply.data.error || "")) finishElsewhere();
        return "refused";
      }
      if (attempt >= SAVE_RETRY_DELAYS_MS.length || state.over) return "failed";
      setSaveStatus(
        questionId,
        "retrying",
        "Not saved yet, retrying (" + (attempt + 1) + " of " + SAVE_RETRY_DELAYS_MS.length + ")…",
      );
      await sleep(SAVE_RETRY_DELAYS_MS[attempt]);
    }
  }

  function pendingSaves() {
    return Object.values(state.savers).filter((saver) => saver.running || saver.failed);
  }

  function updateLeaveGuard() {
    window.onbeforeunload = !state.over && pendingSaves().length ? () => "Some answers are not saved yet." : null;
  }

  function setLocked(locked) {
    document.querySelectorAll("#question-list fieldset").forEach((fieldset) => {
      fieldset.disabled = locked;
    });
    el("questions").classList.toggle("locked", locked);
    el("submit-exam").disabled = locked;
  }

  // --- the end: timeout, submit, submitted elsewhere ---------------------------------------

  function endAttempt(kind) {
    state.over = true;
    state.endKind = kind;
    state.ending = false;
    clearInterval(state.endCheckTimer);
    stopPolling();
    if (state.socket) state.socket.stop();
    clock.set(0);
    setLocked(true);
    el("submit-exam").textContent = kind === "timeout" ? "Time is over" : "Submitted";
    showConnection(kind === "timeout" ? "ended" : "done", kind === "timeout" ? "Exam time has expired" : "Exam submitted");
    updateLeaveGuard();
  }

  function finishTimeout() {
    if (state.over) return;
    endAttempt("timeout");
    el("expired-banner").hidden = false;
    announce("Exam time has expired. Your answers are locked.");
    fetchResult();
  }

  function finishElsewhere() {
    // While our own submit is in flight its `completed` frame is expected: its reply has the result.
    if (state.over || state.submitting) return;
    endAttempt("completed");
    fetchResult();
  }

  /** The result of an ended attempt: `submit` answers it every time it is asked. */
  async function fetchResult() {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const reply = await window.ExamAuth.api("/api/exam/timer/submit/" + state.attemptId + "/", {
          method: "POST",
        });
        if (reply.ok) {
          if (!state.resultShown) showResult(reply.data);
          return;
        }
        if (reply.status < 500) {
          showError(reply.data.error || "Could not load your result (" + reply.status + ").");
          return;
        }
      } catch (error) {
        // the network failed: retry below
      }
      if (attempt >= RESULT_RETRY_DELAYS_MS.length) {
        showError("Your answers are saved, but the result could not be loaded. Reload the page to see it.");
        return;
      }
      await sleep(RESULT_RETRY_DELAYS_MS[attempt]);
    }
  }

  function openSubmitDialog() {
    const dialog = el("confirm-submit");
    const answered = Object.keys(state.saved).length;
    const total = state.questions.length;
    const unanswered = total - answered;
    el("confirm-text").textContent =
      "You have answered " +
      answered +
      " of " +
      total +
      " questions" +
      (unanswered > 0 ? " (" + unanswered + " unanswered)" : "") +
      ". You cannot change your answers after submitting.";
    dialog.returnValue = "";
    dialog.showModal();
    el("confirm-cancel").focus();
  }

  async function submitNow() {
    if (state.over || state.submitting) return;
    state.submitting = true;
    setLocked(true);
    el("submit-exam").textContent = "Submitting…";
    // Choices made before the click go first: the score counts what the student chose.
    await Promise.all(Object.values(state.savers).map((saver) => saver.promise));
    let reply = null;
    try {
      reply = await window.ExamAuth.api("/api/exam/timer/submit/" + state.attemptId + "/", { method: "POST" });
    } catch (error) {
      reply = null;
    }
    state.submitting = false;
    if (reply && reply.ok) {
      if (reply.data.status === "timeout") {
        endAttempt("timeout");
        el("expired-banner").hidden = false;
      } else {
        endAttempt("completed");
      }
      showResult(reply.data);
      return;
    }
    el("submit-exam").textContent = "Submit exam";
    if (!state.over) setLocked(false);
    showError(
      reply ? reply.data.error || "Submitting failed (" + reply.status + "). Try again." : "Cannot reach the server. Your answers are saved; try submitting again.",
    );
  }

  function showResult(data, options) {
    const opts = options || {};
    el("result-score").textContent = String(data.score);
    el("result-total").textContent = String(data.total_marks);
    el("result-percentage").textContent = data.percentage + "%";
    el("result-correct").textContent =
      data.correct_answers === undefined ? "—" : data.correct_answers + " of " + data.total_questions;
    const minutes = data.time_taken_minutes;
    el("result-time").textContent =
      minutes === undefined || minutes === null ? "—" : minutes < 1 ? "< 1 min" : minutes + " min";
    const titles = { submitted: "Exam submitted", timeout: "Time expired: your result", already_completed: "Already submitted" };
    el("result-title").textContent = titles[data.status] || "Your result";
    const message = el("result-message");
    message.hidden = !data.message;
    message.textContent = data.message || "";
    el("result-actions").hidden = !opts.fromMemory;
    state.resultShown = true;
    const section = el("result");
    section.dataset.status = data.status;
    section.hidden = false;
    section.focus();
    announce("Your score: " + data.score + " of " + data.total_marks + " marks, " + data.percentage + " percent.");
    try {
      sessionStorage.setItem(ENDED_KEY, JSON.stringify({ attemptId: state.attemptId, title: el("exam-title").textContent, result: data }));
    } catch (error) {
      // storage full or disabled: the page still shows the result now
    }
  }

  // --- start -------------------------------------------------------------------------------

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

  async function start() {
    hideError();
    el("exam-title").textContent = "Starting exam…";
    showConnection("connecting", "Starting…");
    let reply;
    try {
      reply = await window.ExamAuth.api("/api/exam/timer/start/" + examId + "/", { method: "POST" });
    } catch (error) {
      el("exam-title").textContent = "Exam";
      showConnection("offline", "Offline");
      showError("Cannot reach the server. Check your connection and try again.", "Try again", start);
      return;
    }
    if (!reply.ok) {
      const text =
        reply.data.error ||
        (reply.status === 404 ? "This exam does not exist." : reply.data.detail) ||
        "The exam could not be started (" + reply.status + ").";
      const label = /timed out/i.test(text) ? "Start a new attempt" : "Try again";
      el("exam-title").textContent = "Exam";
      showConnection("ended", "Not started");
      showError(text, reply.status === 404 ? null : label, start);
      return;
    }
    state.attemptId = reply.data.attempt_id;
    el("exam-title").textContent = reply.data.exam_title;
    document.title = reply.data.exam_title + " · Exam timer";
    clock.set(reply.data.remaining_seconds);
    if (reply.data.message) {
      el("exam-note").textContent = reply.data.message + ": your saved answers and the clock are as you left them.";
      el("exam-note").hidden = false;
    }
    await loadQuestions();
  }

  async function loadQuestions() {
    hideError();
    let reply;
    try {
      reply = await window.ExamAuth.api("/api/exam/timer/questions/" + state.attemptId + "/");
    } catch (error) {
      reply = null;
    }
    if (!reply || !reply.ok) {
      showError("The questions could not be loaded.", "Try again", loadQuestions);
      return;
    }
    state.questions = reply.data.questions;
    renderQuestions(reply.data.questions, reply.data.saved_answers || {});
    el("questions").hidden = false;
    if (!state.socket) startSocket();
    if (state.over) setLocked(true);
  }

  function showRemembered(memory) {
    state.attemptId = memory.attemptId;
    el("exam-title").textContent = memory.title || "Exam finished";
    const timedOut = memory.result.status === "timeout";
    showConnection(timedOut ? "ended" : "done", timedOut ? "Exam time has expired" : "Exam submitted");
    state.over = true;
    state.endKind = memory.result.status === "timeout" ? "timeout" : "completed";
    showResult(memory.result, { fromMemory: true });
  }

  function watchClock() {
    setInterval(() => {
      drawClock();
      // An open socket that stopped ticking (a proxy holding it, a stalled server): poll too.
      if (!state.over && state.socket && state.pollTimer === null && state.lastTickAt > 0) {
        if (performance.now() - state.lastTickAt > STALE_TICK_MS) startPolling();
      }
    }, REDRAW_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible" || state.over || state.attemptId === null) return;
      // Back in front: get the server's value now instead of at the next tick.
      if (state.socket && state.socket.isOpen()) state.socket.send({ type: "sync" });
      else poll();
    });
    window.addEventListener("online", () => {
      Object.keys(state.savers).forEach((id) => state.savers[id].failed && retrySave(id));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.ExamAuth.requireSignIn()) return;
    el("submit-exam").addEventListener("click", openSubmitDialog);
    el("confirm-submit").addEventListener("close", () => {
      if (el("confirm-submit").returnValue === "submit") submitNow();
    });
    el("new-attempt").addEventListener("click", () => {
      sessionStorage.removeItem(ENDED_KEY);
      location.reload();
    });
    watchClock();
    let memory = null;
    try {
      memory = JSON.parse(sessionStorage.getItem(ENDED_KEY) || "null");
    } catch (error) {
      memory = null;
    }
    // A finished attempt stays finished on reload: `start` would quietly begin a new one.
    if (memory && memory.result) showRemembered(memory);
    else start();
  });
})();
