/* The exam page's clock: the last value the server sent, counted down on this page.
 *
 * The clock belongs to the server. The page shows the last value the server sent (a socket
 * tick, a `remaining` poll, the start reply) minus the time elapsed since, measured with
 * performance.now(): a monotonic clock that a background tab's throttled timers or a change
 * of the computer's clock cannot bend.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;
  const WARNING_SECONDS = 5 * 60;
  const DANGER_SECONDS = 60;

  let anchorSeconds = null;
  let anchorAt = 0;

  /** Seconds left by the page's clock, or null before the server said any. */
  function left() {
    if (anchorSeconds === null) return null;
    return Math.max(0, anchorSeconds - (performance.now() - anchorAt) / 1000);
  }

  function set(seconds) {
    anchorSeconds = Math.max(0, Number(seconds) || 0);
    anchorAt = performance.now();
    draw();
  }

  function levelOf(seconds) {
    if (E.state() === "timed_out") return "danger";
    if (E.state() === "submitted") return "ended";
    return seconds <= DANGER_SECONDS ? "danger" : seconds <= WARNING_SECONDS ? "warning" : "normal";
  }

  function announceLevel(level, before, whole) {
    // Crossing the line says the round number; arriving below it (a resume) says "less than".
    const crossed = before === "normal" || (before === "warning" && level === "danger");
    if (level === "warning") {
      E.view.announce(crossed && whole >= WARNING_SECONDS - 10 ? "5 minutes left." : "Less than 5 minutes left.");
    } else if (level === "danger") {
      E.view.announce(crossed && whole >= DANGER_SECONDS - 10 ? "1 minute left." : "Less than 1 minute left.");
    }
  }

  /** Redraw from the anchor; redraws are frequent and cheap, the time shown never drifts with them. */
  function draw() {
    const seconds = left();
    if (seconds === null) return;
    const whole = Math.ceil(seconds);
    const box = el("clock");
    el("clock-value").textContent = window.formatCountdown(whole);
    box.dataset.remaining = seconds.toFixed(1);
    box.setAttribute("aria-label", "Time left: " + window.formatCountdown(whole));
    const level = levelOf(seconds);
    if (level !== box.dataset.state) {
      const before = box.dataset.state;
      box.dataset.state = level;
      if (!E.isOver()) announceLevel(level, before, whole);
    }
    // Zero on this page's clock: lock at once, since an answer sent now would arrive after the
    // deadline and be refused; the server then confirms the end or gives time back. A submit
    // in flight is left alone: its reply says how the attempt ended.
    const open = E.state() === "running" || (E.state() === "loading" && E.page.attemptId !== null);
    if (seconds <= 0 && open) E.transition("ending", "the page's clock reached zero");
  }

  E.clock = { set, left, draw };
})();
