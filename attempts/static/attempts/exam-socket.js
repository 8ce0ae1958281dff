/* The server's view of the time: the attempt's socket first, `remaining` polls when it is down.
 *
 * A tick sets the clock and ends any polling; a socket that cannot connect, or that stopped
 * ticking, makes the page poll instead. At zero on the page's clock (state `ending`) the page
 * asks every second until the server confirms the end or gives time back.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const { ask, retry, reachable } = window.ExamRequests;
  const CLOSE = window.PROTOCOL.close;
  const show = window.LiveSocket.showConnection;
  const POLL_INTERVAL_MS = 10 * 1000; // as the connection line says; a changed deadline shows within one
  const STALE_TICK_MS = 5 * 1000; // an open socket that sent no tick this long is not trusted alone
  const END_CHECK_INTERVAL_MS = 1000; // at zero, the end is shown within a second of the server's

  let socket = null;
  let polling = null; // the repeated `remaining` request while the socket is down
  let endCheck = null; // the repeated `remaining` request while ending
  let lastTickAt = 0;
  let opened = 0; // sockets opened so far: from the second on, a reconnect

  /**
   * What the server said is left: `remaining_ms` (exact when it read the timer), or whole
   * seconds from a server that sends only those (rounded up: an estimate later, never earlier,
   * than the truth, which the next exact value corrects). Time given back after our lock (the
   * deadline was moved later) reopens the inputs; a value only delivered late does not.
   */
  function setClock(data) {
    const ms = data.remaining_ms !== undefined ? data.remaining_ms : data.remaining_seconds * 1000;
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
        opened += 1;
        if (opened > 1) catchUp();
      },
      onFrame: handleFrame,
      onClose: handleClose,
      onWaiting(seconds) {
        show("polling", "Live clock unavailable: checking the time every 10 s. Reconnecting in " + seconds + " s.");
        startPolling();
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
      default:
        return "reconnect"; // NORMAL without an end frame, 1006, a server restart: come back
    }
  }

  /**
   * Back after a gap: what the frames would have said meanwhile (answers saved in other tabs,
   * announcements) is read from `questions`. Time needs nothing: the first tick has it.
   */
  async function catchUp() {
    const reply = await ask(() => window.ExamAuth.api("/api/exam/timer/questions/" + E.page.attemptId + "/"));
    if (!reply || !reply.ok || E.isOver()) return;
    E.saves.adopt(reply.data.saved_answers);
    E.notices.announcements(reply.data.announcements);
  }

  /** Ask `remaining` once and act on its answer; resolves to the reply, or null on failure. */
  async function pollOnce() {
    if (E.isOver() || E.page.attemptId === null) return null;
    const reply = await ask(() => window.ExamAuth.api("/api/exam/timer/remaining/" + E.page.attemptId + "/"));
    if (reply === null) {
      show("offline", "Cannot reach the server. The clock keeps counting; retrying.");
      return null;
    }
    if (!reply.ok) return reply;
    if (reply.data.status === "running") setClock(reply.data);
    else if (reply.data.status === "timeout") E.endExam("timed_out", "remaining says timeout");
    else if (reply.data.status === "completed") E.endExam("submitted", "remaining says completed");
    return reply;
  }

  /** `remaining` now and then every `intervalMs` (whatever it answers) until cancelled. */
  function repeatPoll(intervalMs) {
    return retry(pollOnce, { again: () => true, delays: () => intervalMs, stop: E.isOver });
  }

  function startPolling() {
    if (polling !== null || E.isOver()) return;
    polling = repeatPoll(POLL_INTERVAL_MS);
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

  /** Back in front: get the server's value now instead of at the next tick. */
  function resync() {
    if (E.isOver() || E.page.attemptId === null) return;
    if (socket && socket.isOpen()) socket.send({ type: "sync" });
    else pollOnce();
  }

  E.onTransition((to, from) => {
    if (to === "ending") endCheck = repeatPoll(END_CHECK_INTERVAL_MS);
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
