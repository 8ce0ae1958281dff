/* The JWT pair of this tab: sign in, refresh before expiry, authenticated fetch, sign out.
 *
 * Kept in sessionStorage: it survives a reload of the tab but not the closing of the
 * browser, and it is not shared with other tabs (each tab refreshes its own pair, and
 * refresh tokens rotate, so two tabs sharing one pair would revoke each other's).
 */
(function () {
  "use strict";

  const STORAGE_KEY = "examtimer.auth";
  // Refresh this long before the access token expires, and never later than at 3/4 of its
  // life: a slow network or a sleeping laptop must not let a socket outlive its token.
  const REFRESH_MARGIN_MIN_MS = 30 * 1000;
  const REFRESH_MARGIN_MAX_MS = 120 * 1000;
  // Up to half the margin earlier still, at random: the tokens of students who started
  // together expire together, and their refreshes should not come together.
  const REFRESH_SPREAD = 0.5;
  // A refresh that failed on the network or with a 5xx is tried again after a random back-off:
  // 2.5 to 5 s the first time, doubling up to a minute (pace.js); after a 429 or 503 with
  // Retry-After, at least the time it asked for.
  const REFRESH_RETRY_MS = 5 * 1000;
  const REFRESH_RETRY_MAX_MS = 60 * 1000;

  let refreshTimer = null;
  let refreshing = null; // the one refresh in flight: concurrent callers share it
  let refreshFailures = 0; // failed refreshes in a row: the back-off grows with them
  let refreshHeldUntil = 0; // performance.now() before which no refresh is sent (the server's Retry-After)
  // A page that asks for the password itself when the session ends (the exam page: leaving it
  // mid-exam would cost the student time), instead of going to the sign-in page.
  let sessionLostHandler = null;
  let lost = null; // while such a page waits for its sign-in: {promise, resolve} of the new access token

  function decodePayload(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    } catch (error) {
      return {};
    }
  }

  function load() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
      return stored && stored.access && stored.refresh ? stored : null;
    } catch (error) {
      return null;
    }
  }

  function store(pair, username) {
    const previous = load() || {};
    const payload = decodePayload(pair.access);
    const record = {
      access: pair.access,
      refresh: pair.refresh || previous.refresh,
      username: username || previous.username || "",
      // The token's lifetime, measured from when this tab received it: the server's and the
      // browser's clocks may disagree, the length of the lifetime does not.
      lifetimeMs: payload.exp && payload.iat ? (payload.exp - payload.iat) * 1000 : 5 * 60 * 1000,
      receivedAt: Date.now(),
    };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(record));
    scheduleRefresh();
    return record;
  }

  function clear() {
    sessionStorage.removeItem(STORAGE_KEY);
    clearTimeout(refreshTimer);
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    const record = load();
    if (!record) return;
    const margin = Math.min(REFRESH_MARGIN_MAX_MS, Math.max(REFRESH_MARGIN_MIN_MS, record.lifetimeMs / 4));
    const due = record.receivedAt + record.lifetimeMs - margin * (1 + REFRESH_SPREAD * Math.random());
    refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(0, due - Date.now()));
  }

  function goToLogin() {
    const next = location.pathname + location.search;
    location.assign("/login/?next=" + encodeURIComponent(next));
  }

  /**
   * The refresh token was refused: its pair is dropped. Rotation stays strict (a refresh token
   * whose answer was lost on the network is revoked all the same), so only the password can
   * restore the session: on the sign-in page, or, on a page that asked for it, in the page
   * itself. Resolves to the new access token once signed in; the requests waiting meanwhile
   * are sent then.
   */
  function sessionLost(username) {
    clear();
    window.dispatchEvent(new CustomEvent("examauth:signedout"));
    if (!sessionLostHandler) {
      goToLogin();
      return Promise.reject(new Error("session ended"));
    }
    if (!lost) {
      let resolve;
      const promise = new Promise((done) => {
        resolve = done;
      });
      lost = { promise, resolve, username };
      sessionLostHandler(username);
    }
    return lost.promise;
  }

  /** The wait a 429 or 503 reply asks for with its Retry-After header, in ms; null for any other reply. */
  function askedWait(response) {
    if (response.status !== 429 && response.status !== 503) return null;
    return window.Pace.retryAfterMs(response.headers.get("Retry-After"));
  }

  /**
   * Exchange the refresh token for a new pair; on refusal the tab is signed out. While the
   * server's Retry-After holds refreshes back, a caller (a request that got 401) waits for it.
   */
  function refresh() {
    if (refreshing) return refreshing;
    if (!load()) return lost ? lost.promise : Promise.reject(new Error("not signed in"));
    const held = Math.max(0, refreshHeldUntil - performance.now());
    refreshing = new Promise((resolve) => setTimeout(resolve, held))
      .then(sendRefresh)
      .catch((error) => {
        if (load()) retryRefreshLater(error.retryAfterMs);
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  async function sendRefresh() {
    const record = load();
    if (!record) throw new Error("not signed in");
    const response = await fetch("/api/token/refresh/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh: record.refresh }),
    });
    if (response.status === 401 || response.status === 400) return sessionLost(record.username);
    if (!response.ok) {
      const error = new Error("refresh failed: " + response.status);
      error.retryAfterMs = askedWait(response);
      throw error;
    }
    // Rotation: the answer carries a new refresh token and the old one is now revoked.
    const updated = store(await response.json());
    refreshFailures = 0;
    window.dispatchEvent(new CustomEvent("examauth:refreshed", { detail: { access: updated.access } }));
    return updated.access;
  }

  /** A refresh failed: the next one after a random back-off, or after the server's Retry-After. */
  function retryRefreshLater(retryAfterMs) {
    let wait;
    if (retryAfterMs !== null && retryAfterMs !== undefined) {
      wait = window.Pace.honour(retryAfterMs);
      refreshHeldUntil = performance.now() + wait;
    } else {
      wait = window.Pace.backoff(refreshFailures, REFRESH_RETRY_MS, REFRESH_RETRY_MAX_MS);
    }
    refreshFailures += 1;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refresh().catch(() => {}), wait);
  }

  async function signIn(username, password) {
    const response = await fetch("/api/token/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password }),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = response.status === 401 ? "Wrong username or password." : data.error || data.detail;
      throw new Error(message || "Sign-in failed (" + response.status + ").");
    }
    const record = store(data, username);
    if (lost) {
      // Signed in again on the page: what waited goes on, and open sockets renew their token.
      const waiting = lost;
      lost = null;
      waiting.resolve(record.access);
      window.dispatchEvent(new CustomEvent("examauth:refreshed", { detail: { access: record.access } }));
    }
    return record;
  }

  async function signOut() {
    const record = load();
    clear();
    if (record) {
      // Revoke the refresh token; the page leaves whether or not the server heard it.
      await fetch("/api/token/blacklist/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh: record.refresh }),
      }).catch(() => {});
    }
    location.assign("/login/");
  }

  /**
   * fetch() with the access token; one refresh and retry on 401. Resolves {ok, status, data,
   * retryAfterMs}: the last is the wait a 429 or 503 asked for (Retry-After), else null.
   */
  async function api(path, options) {
    const opts = options || {};
    const send = (token) =>
      fetch(path, {
        method: opts.method || "GET",
        headers: Object.assign(
          { Accept: "application/json", Authorization: "Bearer " + token },
          opts.body === undefined ? {} : { "Content-Type": "application/json" },
        ),
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    let record = load();
    if (!record && lost) {
      await lost.promise; // signed out on a page that asks for the password: wait for it
      record = load();
    }
    if (!record) {
      goToLogin();
      throw new Error("not signed in");
    }
    let response = await send(record.access);
    if (response.status === 401) {
      response = await send(await refresh());
    }
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data, retryAfterMs: askedWait(response) };
  }

  /** The access token, or a trip to the sign-in page when this tab has none. */
  function requireSignIn() {
    const record = load();
    if (!record) {
      goToLogin();
      return null;
    }
    return record;
  }

  function showUser() {
    const record = load();
    const who = document.getElementById("signed-in-as");
    const button = document.getElementById("sign-out");
    if (!who || !button) return;
    who.hidden = button.hidden = !record;
    who.textContent = record && record.username ? "Signed in as " + record.username : "";
    button.onclick = () => signOut();
  }

  /** handler(username) when the session ends: the page asks for the password and calls signIn. */
  function onSessionLost(handler) {
    sessionLostHandler = handler;
  }

  window.ExamAuth = {
    load,
    onSessionLost,
    signedOutAs: () => (lost ? lost.username : null),
    signIn,
    signOut,
    refresh,
    api,
    requireSignIn,
    showUser,
    accessToken: () => (load() || {}).access || null,
  };

  document.addEventListener("DOMContentLoaded", () => {
    showUser();
    scheduleRefresh();
  });
})();
