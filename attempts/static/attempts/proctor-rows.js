/* The proctor table's state: one record per attempt, built from snapshot rows and events, and
 * the times derived from it (time left, offline time, offline time not yet credited).
 *
 * Times count locally between frames from the moment a value arrived (performance.now()), so a
 * wrong clock on the proctor's computer changes nothing. The one wall-clock time, the start of
 * the current offline interval, is read on the server's clock, estimated from the rows.
 */
(function () {
  "use strict";

  const P = (window.Proctor = window.Proctor || {});
  const rows = new Map(); // attempt id -> record
  let skewMs = 0; // server clock minus this computer's, when the rows show a clear difference
  const SKEW_IGNORED_MS = 1500; // remaining_seconds is whole seconds: smaller differences are noise

  const has = (data, key) => data !== null && typeof data === "object" && Object.prototype.hasOwnProperty.call(data, key);
  const secondsSince = (anchoredAt) => (performance.now() - anchoredAt) / 1000;

  /** Presence keys (from the lead's presence work): absent on servers that do not send them yet. */
  function presenceFrom(data, previous) {
    if (!has(data, "connected")) return previous || null;
    const since = data.offline_since ? Date.parse(data.offline_since) : NaN;
    return {
      connected: Boolean(data.connected),
      // The offline time up to the frame (its current interval included), counted on from its arrival.
      offlineSeconds: Number(data.offline_seconds) || 0,
      offlineSinceMs: Number.isNaN(since) ? null : since,
      anchoredAt: performance.now(),
    };
  }

  function creditedFrom(data, previous) {
    return has(data, "offline_credited_seconds") ? Number(data.offline_credited_seconds) || 0 : previous || 0;
  }

  /** A record from a snapshot row or a row-carrying event; `previous` keeps what the event lacks. */
  function recordFrom(data, previous) {
    return {
      attemptId: data.attempt_id,
      username: data.user ? data.user.username : previous ? previous.username : "attempt " + data.attempt_id,
      status: data.status,
      answered: data.answered || 0,
      total: data.total_questions || 0,
      remainingAnchor: Number(data.remaining_seconds) || 0,
      anchoredAt: performance.now(),
      startedAt: data.started_at || "",
      score: data.score === undefined ? null : data.score,
      percentage: data.percentage === undefined ? null : data.percentage,
      changeSeconds: has(data, "change_seconds") ? Number(data.change_seconds) || 0 : previous ? previous.changeSeconds : 0,
      presence: presenceFrom(data, previous && previous.presence),
      creditedSeconds: creditedFrom(data, previous && previous.creditedSeconds),
    };
  }

  /** A row that showed how its attempt ended: only a fresh snapshot or a reopen may change its status. */
  function ended(record) {
    return record !== undefined && record.status !== "ongoing";
  }

  function remainingOf(record) {
    if (record.status !== "ongoing") return 0;
    return Math.max(0, record.remainingAnchor - secondsSince(record.anchoredAt));
  }

  function setRemaining(record, seconds) {
    record.remainingAnchor = Number(seconds) || 0;
    record.anchoredAt = performance.now();
  }

  function applyPresence(record, frame) {
    record.presence = presenceFrom(frame, record.presence);
    record.creditedSeconds = creditedFrom(frame, record.creditedSeconds);
  }

  const runningOffline = (record) =>
    record.presence !== null && !record.presence.connected && record.presence.offlineSinceMs !== null && record.status === "ongoing";

  /** Total offline seconds now, or null when the server sends no presence. */
  function offlineTotal(record) {
    if (record.presence === null) return null;
    const extra = runningOffline(record) ? secondsSince(record.presence.anchoredAt) : 0;
    return record.presence.offlineSeconds + extra;
  }

  /** Seconds since the page went offline, or null while connected (or unknown). */
  function offlineFor(record) {
    if (!runningOffline(record)) return null;
    return Math.max(0, (Date.now() + skewMs - record.presence.offlineSinceMs) / 1000);
  }

  /** Whole offline seconds not credited yet (0 when ended, or without presence). */
  function uncredited(record) {
    const total = offlineTotal(record);
    if (total === null || record.status !== "ongoing") return 0;
    return Math.max(0, Math.floor(total) - record.creditedSeconds);
  }

  /** Learn the server's clock from a snapshot: each running row says deadline - remaining = now. */
  function learnClock(list) {
    const skews = list
      .filter((data) => data.status === "ongoing" && data.deadline_at && Number(data.remaining_seconds) > 0)
      .map((data) => Date.parse(data.deadline_at) - (Number(data.remaining_seconds) - 0.5) * 1000 - Date.now())
      .filter((value) => !Number.isNaN(value))
      .sort((a, b) => a - b);
    if (skews.length === 0) return;
    const median = skews[Math.floor(skews.length / 2)];
    skewMs = Math.abs(median) > SKEW_IGNORED_MS ? median : 0;
  }

  /** Newest start first, as the table shows them. */
  function ordered() {
    return Array.from(rows.values()).sort(
      (a, b) => b.startedAt.localeCompare(a.startedAt) || b.attemptId - a.attemptId,
    );
  }

  /** 83 -> "1:23", 3723 -> "1:02:03": durations in the console's cells and buttons. */
  function duration(totalSeconds) {
    const total = Math.max(0, Math.floor(totalSeconds));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const two = (n) => String(n).padStart(2, "0");
    return hours > 0 ? hours + ":" + two(minutes) + ":" + two(total % 60) : minutes + ":" + two(total % 60);
  }

  P.rows = {
    all: rows,
    recordFrom,
    ended,
    remainingOf,
    setRemaining,
    applyPresence,
    offlineTotal,
    offlineFor,
    uncredited,
    learnClock,
    ordered,
    duration,
  };
})();
