/* How long a page waits before it asks the server again: random waits, and the server's Retry-After.
 *
 * A server that restarts drops every socket at the same instant; thousands of pages that then
 * polled, reconnected or retried on the same fixed schedule would hit it in one burst at every
 * step of that schedule while it is trying to recover. So every repeated request of the pages
 * waits a random time: around its period when things work, growing on failures, and never
 * less than a 429 or 503 reply's Retry-After, plus a random part of it so that pages told the
 * same number do not come back in the same instant either.
 */
(function () {
  "use strict";

  // A Retry-After above this is not believed: an HTTP-date read on a clock that is off by hours,
  // or a proxy's mistake, must not silence the page for the rest of the exam.
  const RETRY_AFTER_MAX_MS = 10 * 60 * 1000;
  // "Retry-After: 0" on a refusal would make a loop that does not count it as a failure spin.
  const RETRY_AFTER_MIN_MS = 1000;
  // Pages told the same Retry-After come back spread over up to half of it again.
  const RETRY_AFTER_SPREAD = 0.5;

  /** A random wait within ±fraction of `ms`: the period on average, in step with no other page. */
  function around(ms, fraction) {
    return ms * (1 - fraction + 2 * fraction * Math.random());
  }

  /**
   * Exponential back-off with full jitter: after `failures` failures in a row, a random wait
   * between half of `firstMs` and min(capMs, firstMs · 2^failures). The floor keeps a page from
   * asking again at once; the randomness spreads pages that failed together.
   */
  function backoff(failures, firstMs, capMs) {
    const ceiling = Math.min(capMs, firstMs * 2 ** failures);
    const floor = Math.min(ceiling, firstMs / 2);
    return floor + Math.random() * (ceiling - floor);
  }

  /**
   * The wait a Retry-After header asks for, in ms: delta-seconds ("5") or an HTTP-date ("Wed,
   * 21 Oct 2026 07:28:00 GMT"), at most RETRY_AFTER_MAX_MS. null when absent or unreadable.
   */
  function retryAfterMs(header) {
    if (header === null || header === undefined) return null;
    const text = String(header).trim();
    let ms;
    if (/^\d+$/.test(text)) {
      ms = Number(text) * 1000;
    } else {
      const at = Date.parse(text);
      if (Number.isNaN(at)) return null;
      ms = at - Date.now();
    }
    return Math.min(RETRY_AFTER_MAX_MS, Math.max(0, ms));
  }

  /** How long to hold back when the server asked for `askedMs`: at least that, plus a random part of it. */
  function honour(askedMs) {
    const asked = Math.max(RETRY_AFTER_MIN_MS, askedMs);
    return asked * (1 + RETRY_AFTER_SPREAD * Math.random());
  }

  /** Whole seconds of a wait, as the page says it ("wait 5 s"); at least 1. */
  function seconds(ms) {
    return Math.max(1, Math.ceil(ms / 1000));
  }

  window.Pace = { around, backoff, retryAfterMs, honour, seconds };
})();
