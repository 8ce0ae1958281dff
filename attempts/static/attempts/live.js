/* A WebSocket that reconnects by itself with back-off and keeps its authentication fresh,
 * and the connection line (#connection) that the pages following a socket show. */
(function () {
  "use strict";

  // Doubling delays with full jitter (pace.js): a server restart closes every socket at once,
  // and the pages must not all come back at once, nor in step at each later try. The n-th
  // reconnect in a row waits a random time between 0.5 s and min(30 s, 1 s · 2^n).
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 30 * 1000;
  // A socket refused for its token right after a refresh is not retried at once forever.
  const REAUTH_MAX_TRIES = 3;
  // A socket refused for too many connections (PROTOCOL.close.TOO_MANY: another tab holds the places,
  // or this address failed too often) is tried again after 20 to 40 s, never sooner: a place frees
  // when a tab closes, which no retry can hurry, and a loop of refusals would only cost the server.
  const LATER_MS = 30 * 1000;
  const LATER_SPREAD = 1 / 3;

  /**
   * handlers: onOpen(), onFrame(frame), onClose(code) -> "stop" | "reconnect" (the default) | "later"
   * (reconnect after LATER_MS, whatever the back-off says), onWaiting(seconds) while a reconnect is scheduled. A close for a bad or expired token
   * (PROTOCOL.close.UNAUTHENTICATED) is handled here for every page, whatever onClose says:
   * refresh the token, then reconnect.
   */
  class LiveSocket {
    constructor(path, handlers) {
      this.path = path;
      this.handlers = handlers;
      this.socket = null;
      this.failures = 0;
      this.retryTimer = null;
      this.stopped = false;
      this.onRefreshed = (event) => this.send({ type: "auth", token: event.detail.access });
      window.addEventListener("examauth:refreshed", this.onRefreshed);
      // Back from sleep or offline: try at once instead of waiting out the back-off.
      this.onWake = () => {
        if (!this.stopped && !this.isOpen() && this.retryTimer) this.connectNow();
      };
      window.addEventListener("online", this.onWake);
      document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && this.onWake());
    }

    url() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const token = window.ExamAuth.accessToken() || "";
      return scheme + location.host + this.path + "?token=" + encodeURIComponent(token);
    }

    isOpen() {
      return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
    }

    start() {
      this.stopped = false;
      this.connectNow();
    }

    connectNow() {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      if (this.socket) {
        this.socket.onclose = null;
        this.socket.close();
      }
      let socket;
      try {
        socket = new WebSocket(this.url());
      } catch (error) {
        this.scheduleReconnect();
        return;
      }
      this.socket = socket;
      socket.onopen = () => this.handlers.onOpen && this.handlers.onOpen();
      socket.onmessage = (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        this.failures = 0; // a frame arrived: the connection works
        this.handlers.onFrame(frame);
      };
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        this.socket = null;
        if (this.stopped) return;
        const decision = this.handlers.onClose ? this.handlers.onClose(event.code) : "reconnect";
        const reauth = event.code === window.PROTOCOL.close.UNAUTHENTICATED;
        if (decision === "stop" && !reauth) {
          this.stop();
        } else if (reauth && this.failures < REAUTH_MAX_TRIES) {
          this.failures += 1;
          window.ExamAuth.refresh().then(
            () => !this.stopped && this.connectNow(),
            () => this.scheduleReconnect(),
          );
        } else {
          this.scheduleReconnect(decision === "later" ? window.Pace.around(LATER_MS, LATER_SPREAD) : 0);
        }
      };
    }

    scheduleReconnect(atLeastMs = 0) {
      if (this.stopped) return;
      const backoff = window.Pace.backoff(this.failures, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
      const delay = Math.round(Math.max(atLeastMs, backoff));
      this.failures += 1;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.connectNow(), delay);
      if (this.handlers.onWaiting) this.handlers.onWaiting(Math.max(1, Math.round(delay / 1000)));
    }

    send(frame) {
      if (this.isOpen()) this.socket.send(JSON.stringify(frame));
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      if (this.socket) {
        const socket = this.socket;
        this.socket = null;
        socket.onclose = null;
        socket.close();
      }
    }
  }

  /** The page's connection line: `kind` styles it (live, polling, offline, ended…), `text` says it. */
  LiveSocket.showConnection = function (kind, text) {
    const line = document.getElementById("connection");
    line.dataset.state = kind;
    line.textContent = text;
  };

  window.LiveSocket = LiveSocket;
})();
