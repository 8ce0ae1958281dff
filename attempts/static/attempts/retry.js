/* Asking the server: one request (`ask`), one way of asking again until it lands (`retry`),
 * and one way of asking now and then (`repeat`).
 *
 * Every request the exam page repeats goes through `retry` or `repeat`: saving an answer,
 * loading the result, polling the clock while the socket is down, and the end check at zero.
 * Each says only how long to wait and when to stop; the loop, the waiting, the cancelling and
 * the server's Retry-After are written once, here.
 *
 * Retry-After: a 429 or 503 reply that carries it holds back every request of its kind
 * ("save", "remaining", "result") for at least that long (pace.js adds a random part). Such a
 * reply is the server's schedule, not a failure: it does not use up a retry, so a save the
 * server asked to wait for is sent again after the wait, however often it asks.
 */
(function () {
  "use strict";

  const Pace = window.Pace;
  const reachableListeners = [];
  const heldUntil = {}; // kind -> performance.now() before which no request of that kind is sent
  let unnamed = 0; // a loop given no kind holds back only itself

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

  /** The wait (ms) the reply's 429 or 503 asked for with Retry-After, or null. */
  function askedWait(reply) {
    return reply && reply.retryAfterMs !== undefined ? reply.retryAfterMs : null;
  }

  /** ms before a request of `kind` may be sent (0: now). */
  function heldFor(kind) {
    return Math.max(0, (heldUntil[kind] || 0) - performance.now());
  }

  /** The server asked that no request of `kind` come for `askedMs`: hold them back (longer, never shorter). */
  function hold(kind, askedMs) {
    heldUntil[kind] = Math.max(heldUntil[kind] || 0, performance.now() + Pace.honour(askedMs));
  }

  function kindOf(opts) {
    return opts.kind || "unnamed-" + (unnamed += 1);
  }

  /** A wait that cancel() ends at once. */
  function sleeper() {
    let timer = null;
    let wake = null;
    return {
      sleep(ms) {
        return new Promise((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, Math.max(0, ms));
        });
      },
      wake() {
        clearTimeout(timer);
        if (wake) wake();
      },
    };
  }

  /**
   * Call send(tryIndex) until again(reply) is false or the retries run out.
   *
   * options.kind: the kind of request, for Retry-After (see the top of this file); without
   * one, a Retry-After holds back only this loop.
   * options.delays: a list of waits in ms (its length is the number of retries), or a function
   * of the retry index giving the wait, undefined to give up. Pass randomized waits
   * (Pace.backoff): pages that failed together must not retry together.
   * options.again(reply): retry? (by default isTransient). options.stop(): checked before and
   * after each wait (the first try's too, when the kind's Retry-After holds it back); true ends
   * the retries (reply: the last one, null when nothing was sent).
   * options.onRetry(retryNumber, retries, reply): before each wait after a failure, to say a
   * retry is coming. options.onHold(ms, reply): before a wait the server asked for (reply: its
   * 429 or 503; null when an earlier reply of the same kind still holds this first try back),
   * to say so.
   *
   * Returns {done, cancel}: done resolves to {reply, gaveUp, cancelled}; cancel() ends the
   * waiting at once (a request already sent still completes).
   */
  function retry(send, options) {
    const opts = options || {};
    const again = opts.again || isTransient;
    const delays = opts.delays || [];
    const delayOf = typeof delays === "function" ? delays : (index) => delays[index];
    const retries = Array.isArray(delays) ? delays.length : Infinity;
    const kind = kindOf(opts);
    const waiting = sleeper();
    let cancelled = false;

    const done = (async () => {
      let failures = 0;
      let reply = null;
      let held = heldFor(kind);
      if (held > 0) {
        if (opts.onHold) opts.onHold(held, null);
        await waiting.sleep(held);
        if (cancelled || (opts.stop && opts.stop())) return { reply, gaveUp: false, cancelled: true };
      }
      for (let tryIndex = 0; ; tryIndex += 1) {
        reply = await ask(() => send(tryIndex));
        if (cancelled || !again(reply)) return { reply, gaveUp: false, cancelled };
        if (opts.stop && opts.stop()) return { reply, gaveUp: false, cancelled: true };
        const asked = askedWait(reply);
        let delay = 0;
        if (asked !== null) {
          hold(kind, asked);
          if (opts.onHold) opts.onHold(heldFor(kind), reply);
        } else {
          delay = delayOf(failures);
          if (delay === undefined) return { reply, gaveUp: true, cancelled: false };
          failures += 1;
          if (opts.onRetry) opts.onRetry(failures, retries, reply);
        }
        // Another request of the kind may have been told to wait meanwhile: that holds here too.
        held = heldFor(kind);
        await waiting.sleep(Math.max(delay, held));
        if (cancelled || (opts.stop && opts.stop())) return { reply, gaveUp: false, cancelled: true };
      }
    })();

    return {
      done,
      cancel() {
        cancelled = true;
        waiting.wake();
      },
    };
  }

  /**
   * Call send() after options.firstWait ms, then again and again, each time after
   * nextWait(reply, failures) ms (failures: replies in a row that failed, this one included;
   * one that asked for a wait counts neither way),
   * and never before the kind's Retry-After allows; until stop() is true or cancel().
   * options.kind as for retry; options.onHold(ms, reply) before a wait of `ms` after a reply
   * that asked for one, or made longer by the kind's Retry-After (reply: the last one of this
   * loop, null before the first). Returns {cancel}.
   */
  function repeat(send, nextWait, options) {
    const opts = options || {};
    const kind = kindOf(opts);
    const waiting = sleeper();
    let cancelled = false;

    (async () => {
      let failures = 0;
      let wait = opts.firstWait || 0;
      let reply = null;
      let asked = null;
      for (;;) {
        const held = heldFor(kind);
        if ((asked !== null || held > wait) && opts.onHold) opts.onHold(Math.max(wait, held), reply);
        await waiting.sleep(Math.max(wait, held));
        if (cancelled || (opts.stop && opts.stop())) return;
        reply = await ask(send);
        if (cancelled || (opts.stop && opts.stop())) return;
        asked = askedWait(reply);
        if (asked !== null) hold(kind, asked);
        // A reply that asked for a wait is the server's schedule, not a failure to back off from.
        if (asked === null) failures = isTransient(reply) ? failures + 1 : 0;
        wait = nextWait(reply, failures);
      }
    })();

    return {
      cancel() {
        cancelled = true;
        waiting.wake();
      },
    };
  }

  window.ExamRequests = { ask, retry, repeat, heldFor, isTransient, reachable, onReachable };
})();
