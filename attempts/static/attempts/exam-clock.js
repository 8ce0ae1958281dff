/* The exam page's clock: a local estimate of the server's deadline, counted down on this page.
 *
 * The clock belongs to the server. Each time the server says how long is left (a socket tick,
 * a `remaining` poll, the start reply), the page turns it into a deadline on its own
 * monotonic clock: performance.now() at receipt + the time left. A background tab's
 * throttled timers or a change of the computer's clock cannot bend performance.now().
 *
 * A value reaches the page after the server read it, so each estimate is late by its delivery
 * delay, never early: the earliest estimate seen so far is the best one, and the page keeps
 * the minimum. Only when the server says there is clearly more time than that (the deadline
 * was moved later: time given back) does the estimate move later.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;
  const WARNING_SECONDS = 5 * 60;
  const DANGER_SECONDS = 60;
  // The page locks this long before its estimate of the deadline. The estimate is late by the
  // delivery delay of the best value seen (a few ms on a good network), and a timer may fire
  // late on a busy main thread (tens of ms): 100 ms covers both, so the inputs lock at, or a
  // little before, the real deadline, and an answer sent in the last moment still arrives in
  // time. It costs the student at most a tenth of a second.
  const LOCK_MARGIN_MS = 100;
  // More time than the estimate by over this is time given back, not a value delivered late;
  // under it, a rounding (the start reply's whole seconds) or a slow delivery.
  const GIVEN_BACK_MS = 1000;
  // After a proctor's change, a tick the server read just before it may still arrive: for this
  // long, a value that would undo the change (off by more than GIVEN_BACK_MS) is not taken.
  const STALE_AFTER_JUMP_MS = 2000;

  let deadlineAt = null; // the deadline estimate, on performance.now()'s clock
  let lockTimer = null;
  let jumpedAt = -Infinity; // performance.now() of the last proctor's change

  /** Milliseconds left by the page's clock, or null before the server said any. */
  function msLeft() {
    if (deadlineAt === null) return null;
    return Math.max(0, deadlineAt - performance.now());
  }

  /** Seconds left by the page's clock, or null before the server said any. */
  function left() {
    const ms = msLeft();
    return ms === null ? null : ms / 1000;
  }

  /**
   * The server says `remainingMs` are left, as of about now. Returns true when that gave time
   * back (the estimate moved later); a value that is only late is absorbed by the minimum.
   */
  function observe(remainingMs) {
    const now = performance.now();
    const estimate = now + Math.max(0, Number(remainingMs) || 0);
    let givenBack = false;
    if (deadlineAt !== null && Math.abs(estimate - deadlineAt) > GIVEN_BACK_MS && now - jumpedAt < STALE_AFTER_JUMP_MS) {
      return false; // read before the change the page has just taken
    }
    if (deadlineAt === null || estimate < deadlineAt) {
      deadlineAt = estimate;
    } else if (estimate > deadlineAt + GIVEN_BACK_MS) {
      deadlineAt = estimate;
      givenBack = true;
    }
    scheduleLock();
    draw();
    return givenBack;
  }

  /**
   * A proctor moved the deadline by `changeMs` (negative: earlier); the server had `remainingMs`
   * left (whole seconds, rounded up) when it sent that. The countdown jumps at once: to the old
   * estimate moved by the change (as exact as that estimate was), but never past what the
   * server said is left, so that a change the ticks had already brought is not counted twice.
   * Returns true when that gave time back.
   */
  function jump(changeMs, remainingMs) {
    const now = performance.now();
    const told = now + Math.max(0, Number(remainingMs) || 0);
    const before = deadlineAt;
    deadlineAt = before === null ? told : Math.max(now, Math.min(before + changeMs, told));
    jumpedAt = now;
    scheduleLock();
    draw();
    return before !== null && deadlineAt > before;
  }

  /** The attempt ended: the clock shows zero. */
  function stop() {
    deadlineAt = performance.now();
    clearTimeout(lockTimer);
    draw();
  }

  /** Whether the page's clock says the inputs must be locked now. */
  function lockDue() {
    const ms = msLeft();
    return ms !== null && ms <= LOCK_MARGIN_MS;
  }

  // On the page's own timer, not the redraws' 200 ms: the lock must not wait for a redraw, nor
  // for the server's timeout frame. A timer may fire a fraction of a millisecond early (it
  // counts whole milliseconds): then it is set again for the rest, not left to the next redraw.
  function scheduleLock() {
    clearTimeout(lockTimer);
    if (E.isOver() || deadlineAt === null) return;
    const wait = deadlineAt - LOCK_MARGIN_MS - performance.now();
    lockTimer = setTimeout(() => {
      draw();
      if (!lockDue()) scheduleLock();
    }, Math.max(0, Math.ceil(wait)));
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
      const text = crossed && whole >= WARNING_SECONDS - 10 ? "5 minutes left." : "Less than 5 minutes left.";
      E.view.announce(text, { once: true });
    } else if (level === "danger") {
      const text = crossed && whole >= DANGER_SECONDS - 10 ? "1 minute left." : "Less than 1 minute left.";
      E.view.announce(text, { once: true });
    }
  }

  /** Redraw from the estimate; redraws are frequent and cheap, the time shown never drifts with them. */
  function draw() {
    const ms = msLeft();
    if (ms === null) return;
    const seconds = ms / 1000;
    // Whole seconds up to the lock: the display reaches 00:00 when the inputs lock.
    const whole = Math.ceil(Math.max(0, ms - LOCK_MARGIN_MS) / 1000);
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
    // The deadline on this page's clock: lock at once, since an answer sent now would arrive
    // after the deadline and be refused; the server then confirms the end or gives time back.
    // A submit in flight is left alone: its reply says how the attempt ended.
    const open = E.state() === "running" || (E.state() === "loading" && E.page.attemptId !== null);
    if (lockDue() && open) E.transition("ending", "the page's clock reached the deadline");
  }

  E.clock = { observe, jump, stop, left, lockDue, draw };
})();
