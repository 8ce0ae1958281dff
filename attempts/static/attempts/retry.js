/* Asking the server: one request (`ask`) and one way of asking again (`retry`).
 *
 * Every request the exam page repeats goes through `retry`: saving an answer, loading the
 * result, polling the clock while the socket is down, and the end check at zero. Each says
 * only how long to wait between tries and when to stop; the loop, the waiting and the
 * cancelling are written once, here.
 */
(function () {
  "use strict";

  const reachableListeners = [];

  /** listener() whenever the server is heard from: a reply that is its own, a socket frame, a reconnect. */
  function onReachable(listener) {
    reachableListeners.push(listener);
  }

  /**
   * The server answered. The browser's `online` event fires only when the browser itself was
   * offline, not when the server or the way to it was down: what failed then is sent again
   * once any request (or the socket) gets through. In a task of its own, so that a listener
   * never runs inside the caller's await.
   */
  function reachable() {
    setTimeout(() => reachableListeners.forEach((listener) => listener()), 0);
  }

  /** The api() reply of `send()`, or null when the network failed (nothing to read then). */
  async function ask(send) {
    try {
      const reply = await send();
      if (!isTransient(reply)) reachable();
      return reply;
    } catch (error) {
      return null;
    }
  }

  /**
   * Whether another try could get another answer: the network failed, the server (or a proxy
   * in front of it) failed, or it asked to come back later (408, 429). Any other refusal is the
   * server's answer and its `code` says why; trying again would only get it again.
   */
  function isTransient(reply) {
    if (reply === null) return true;
    if (reply.ok) return false;
    return reply.status >= 500 || reply.status === 408 || reply.status === 429;
  }

  /**
   * Call send(tryIndex) until again(reply) is false or the waits run out.
   *
   * options.delays: a list of waits in ms (its length is the number of retries), or a function
   * of the try index giving the wait, undefined to give up. options.again(reply): retry? (by
   * default isTransient). options.stop(): checked before each wait; true ends the retries.
   * options.onRetry(retryNumber, retries, reply): before each wait, to say a retry is coming.
   *
   * Returns {done, cancel}: done resolves to {reply, gaveUp, cancelled}; cancel() ends the
   * waiting at once (a request already sent still completes).
   */
  function retry(send, options) {
    const opts = options || {};
    const again = opts.again || isTransient;
    const delays = opts.delays || [];
    const delayOf = typeof delays === "function" ? delays : (index) => delays[index];
    let cancelled = false;
    let timer = null;
    let wake = null;

    const done = (async () => {
      for (let index = 0; ; index += 1) {
        const reply = await ask(() => send(index));
        if (cancelled || !again(reply)) return { reply, gaveUp: false, cancelled };
        const delay = delayOf(index);
        if (delay === undefined) return { reply, gaveUp: true, cancelled: false };
        if (opts.stop && opts.stop()) return { reply, gaveUp: false, cancelled: true };
        if (opts.onRetry) opts.onRetry(index + 1, Array.isArray(delays) ? delays.length : Infinity, reply);
        await new Promise((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, delay);
        });
        if (cancelled) return { reply, gaveUp: false, cancelled: true };
      }
    })();

    return {
      done,
      cancel() {
        cancelled = true;
        clearTimeout(timer);
        if (wake) wake();
      },
    };
  }

  window.ExamRequests = { ask, retry, isTransient, reachable, onReachable };
})();
