/* The server's view of the time: the attempt's socket first, `remaining` polls when it is down.
 *
 * A tick sets the clock and ends any polling; a socket that cannot connect, or that stopped
 * ticking, makes the page poll instead. At zero on the page's clock (state `ending`) the page
 * asks about every second until the server confirms the end or gives time back.
 *
 * Every wait is random (pace.js): a server restart drops thousands of sockets at once, and
 * their pages must not then poll in step. The countdown does not need the polls to run: it
 * counts on this page's clock towards the deadline the last value gave (exam-clock.js), so a
 * poll only corrects it (a proctor's change, or the start reply's rounding).
 */
(function () {
  "use strict";

  const E = window.Exam;
  const { ask, retry, repeat, heldFor, isTransient, reachable } = window.ExamRequests;
  const Pace = window.Pace;
  const CLOSE = window.PROTOCOL.close;
  const show = window.LiveSocket.showConnection;
  // Polls come about every 10 s (8 to 12 s, at random), as the connection line says; a changed
  // deadline shows within one. The first one after the socket is lost comes at a random moment
  // of the first 10 s: every page of a restarted server lost its socket at the same instant.
  const POLL_PERIOD_MS = 10 * 1000;
  const POLL_SPREAD = 0.2;
  // A poll that failed (network, 5xx) doubles the wait, up to a minute: an unreachable server
  // is not asked more often than a working one, and a recovering one is given room.
  const POLL_BACKOFF_MAX_MS = 60 * 1000;
  const STALE_TICK_MS = 5 * 1000; // an open socket that sent no tick this long is not trusted alone
  // At zero, the end is shown about a second after the server's (0.75 to 1.25 s apart); while
  // the checks fail, their period doubles up to 8 s.
  const END_CHECK_PERIOD_MS = 1000;
  const END_CHECK_SPREAD = 0.25;
  const END_CHECK_BACKOFF_MAX_MS = 8 * 1000;
  // With a ticking socket the end arrives as a frame (p99 125 ms after the deadline): the end
  // check is a fallback, first sent 2 to 4 s after zero, so that a deadline shared by thousands
  // of students is not met by thousands of `remaining` requests in the same second. Without
  // one, the first check comes within half a second of zero.
  const END_CHECK_GRACE_MS = [2000, 4000];
  const END_CHECK_FIRST_MAX_MS = 500;

  let socket = null;
  let polling = null; // the repeated `remaining` request while the socket is down
  let endCheck = null; // the repeated `remaining` request while ending
  let lastTickAt = 0;
  let opened = 0; // sockets opened so far: from the second on, a reconnect
  let exact = false; // the clock has had a server value in ms (a tick, a poll), not only the start reply's seconds
  let reconnectIn = null; // seconds until the socket's next try, as the connection line says
  let tooMany = null; // the last socket was refused with 4429: its `refused` frame (reason, message), else null
  let refused = null; // the `refused` frame of the socket now closing, if it sent one

  /**
   * What the server said is left: `remaining_ms` (exact when it read the timer), or whole
   * seconds from a server that sends only those (rounded up: an estimate later, never earlier,
   * than the truth, which the next exact value corrects). Time given back after our lock (the
   * deadline was moved later) reopens the inputs; a value only delivered late does not.
   */
  function setClock(data) {
    const ms = data.remaining_ms !== undefined ? data.remaining_ms : data.remaining_seconds * 1000;
    if (data.remaining_ms !== undefined) exact = true;
    const givenBack = E.clock.observe(ms);
    if (givenBack && E.state() === "ending" && !E.clock.lockDue()) {
      E.transition("running", "the server gave time back");
    }
  }

  function start() {
    if (socket) return;
    socket = new window.LiveSocket("/ws/attempts/" + E.page.attemptId + "/", {
      onOpen() {
        reachable(); // a reconnect: the server is there again
        tooMany = null;
        refused = null;
        opened += 1;
        if (opened > 1) catchUp();
      },
      onFrame: handleFrame,
      onClose: handleClose,
      onWaiting(seconds) {
        reconnectIn = seconds;
        startPolling();
        showPolling(heldFor("remaining"));
      },
    });
    socket.start();
  }

  function handleFrame(frame) {
    reachable();
    if (frame.type === "tick") {
      lastTickAt = performance.now();
      stopPolling();
      show("live", "Live");
      if (!E.isOver()) setClock(frame);
    } else if (frame.type === "time_changed") {
      E.live.timeChanged(frame);
    } else if (frame.type === "warning") {
      E.live.warning(frame);
    } else if (frame.type === "announcement") {
      E.live.announcement(frame);
    } else if (frame.type === "answer_saved") {
      E.saves.heard(frame);
    } else if (frame.type === "timeout") {
      E.endExam("timed_out", "a timeout frame");
    } else if (frame.type === "completed") {
      if (frame.message === window.PROTOCOL.messages.ended_by_proctor) E.page.endedByProctor = true;
      E.endExam("submitted", "a completed frame");
    } else if (frame.type === "refused") {
      refused = frame; // the 4429 that follows says why with it
    } else if (frame.type === "error") {
      console.warn("socket error frame:", frame.message);
    }
  }

  function handleClose(code) {
    if (E.isOver()) return "stop";
    switch (code) {
      case CLOSE.TIMEOUT:
        E.endExam("timed_out", "the socket closed with " + code);
        return "stop";
      case CLOSE.FORBIDDEN:
        E.view.showError("This exam attempt does not belong to you.");
        return "stop";
      case CLOSE.NOT_FOUND:
        E.view.showError("This exam attempt no longer exists.");
        return "stop";
      case CLOSE.TOO_MANY:
        // Said on the connection line (showPolling); the clock goes on from polls.
        tooMany = refused || { reason: "too_many_sockets" };
        refused = null;
        return "later";
      default:
        return "reconnect"; // NORMAL without an end frame, 1006, a server restart: come back
    }
  }

  /**
   * Back after a gap: what the frames would have said meanwhile (answers saved in other tabs,
   * announcements) is read from `questions`. Time needs nothing: the first tick has it.
   */
  async function catchUp() {
    // Asked again when the server is busy or asks to wait (429/503 Retry-After): given up, the
    // announcements made while the socket was down would never be shown.
    const { reply } = await retry(
      () => window.ExamAuth.api("/api/exam/timer/questions/" + E.page.attemptId + "/"),
      { kind: "questions", delays: [1000, 2000, 4000, 8000], stop: () => E.isOver() },
    ).done;
    if (!reply || !reply.ok || E.isOver()) return;
    E.saves.adopt(reply.data.saved_answers);
    E.notices.announcements(reply.data.announcements);
  }

  /** The connection line while the page polls: how often, or, when the server asked it to wait, for how long. */
  function showPolling(heldMs) {
    if (polling === null || E.isOver() || E.state() === "ending") return;
    const reconnect = reconnectIn === null ? "" : " Reconnecting in " + reconnectIn + " s.";
    if (tooMany && tooMany.reason === "too_many_sockets") {
      show(
        "polling",
        "This exam is open in too many tabs or windows, so this one has no live clock. Close the ones you do not" +
          " need. The clock keeps counting; checking the time about every 10 s." + reconnect,
      );
    } else if (tooMany) {
      // Another 4429 (the address throttle: too_many_refusals): closing tabs would not help, so say the server's words.
      show(
        "polling",
        "Live clock unavailable: " + (tooMany.message || "the server refused the connection for now.") +
          " The clock keeps counting; checking the time about every 10 s." + reconnect,
      );
    } else if (heldMs > 0) {
      const wait = Pace.seconds(heldMs);
      show(
        "polling",
        "Live clock unavailable, and the server asked us to wait: checking the time again in " + wait +
          " s. The clock keeps counting." + reconnect,
      );
    } else {
      show("polling", "Live clock unavailable: checking the time about every 10 s." + reconnect);
    }
  }

  /** Ask `remaining` once and act on its answer; resolves to the reply, or null on failure. */
  async function pollOnce() {
    if (E.isOver() || E.page.attemptId === null) return null;
    const reply = await ask(() => window.ExamAuth.api("/api/exam/timer/remaining/" + E.page.attemptId + "/"));
    if (reply === null) {
      show("offline", "Cannot reach the server. The clock keeps counting; retrying.");
      return null;
    }
    if (isTransient(reply)) {
      // With a Retry-After, the wait it asked for is said instead (onHold).
      if (reply.retryAfterMs === null) {
        show("offline", "The server cannot answer right now. The clock keeps counting; retrying.");
      }
      return reply;
    }
    if (!reply.ok) return reply;
    showPolling(0);
    if (reply.data.status === "running") setClock(reply.data);
    else if (reply.data.status === "timeout") E.endExam("timed_out", "remaining says timeout");
    else if (reply.data.status === "completed") E.endExam("submitted", "remaining says completed");
    return reply;
  }

  /** `remaining` polls while the socket is down: about every 10 s, less often while they fail. */
  function startPolling() {
    if (polling !== null || E.isOver()) return;
    // Only the start reply's whole seconds so far (a page opened while the socket is down):
    // ask at once, the clock may be up to a second late. Else at a random moment of a period.
    const firstWait = exact ? Math.random() * POLL_PERIOD_MS : 0;
    polling = repeat(
      pollOnce,
      (reply, failures) => Pace.around(Math.min(POLL_BACKOFF_MAX_MS, POLL_PERIOD_MS * 2 ** failures), POLL_SPREAD),
      { kind: "remaining", firstWait, stop: E.isOver, onHold: showPolling },
    );
  }

  /** At zero on the page's clock: `remaining` about every second until the server confirms the end or gives time back. */
  function startEndCheck() {
    const ticking = socket && socket.isOpen() && lastTickAt !== 0 && performance.now() - lastTickAt <= STALE_TICK_MS;
    const [graceFrom, graceTo] = END_CHECK_GRACE_MS;
    const firstWait = ticking ? graceFrom + Math.random() * (graceTo - graceFrom) : Math.random() * END_CHECK_FIRST_MAX_MS;
    const next = (reply, failures) =>
      Pace.around(Math.min(END_CHECK_BACKOFF_MAX_MS, END_CHECK_PERIOD_MS * 2 ** failures), END_CHECK_SPREAD);
    return repeat(pollOnce, next, {
      kind: "remaining",
      firstWait,
      stop: E.isOver,
      onHold(ms) {
        if (E.state() === "ending") {
          show("ending", "Time is up. The server asked us to wait: confirming with it in " + Pace.seconds(ms) + " s.");
        }
      },
    });
  }

  function stopPolling() {
    if (polling !== null) polling.cancel();
    polling = null;
  }

  /** On each redraw: an open socket that stopped ticking (a proxy holding it, a stalled server) is polled around. */
  function checkStale() {
    if (E.isOver() || !socket || polling !== null || lastTickAt === 0) return;
    if (performance.now() - lastTickAt > STALE_TICK_MS) startPolling();
  }

  /** Back in front: get the server's value now instead of at the next tick (unless the server asked us to wait). */
  function resync() {
    if (E.isOver() || E.page.attemptId === null) return;
    if (socket && socket.isOpen()) socket.send({ type: "sync" });
    else if (heldFor("remaining") === 0) pollOnce();
  }

  E.onTransition((to, from) => {
    if (to === "ending") endCheck = startEndCheck();
    if (from === "ending" && endCheck !== null) {
      endCheck.cancel();
      endCheck = null;
    }
    if (E.isOver()) {
      stopPolling();
      if (socket) socket.stop();
    }
  });

  E.serverTime = { start, checkStale, resync };
})();
