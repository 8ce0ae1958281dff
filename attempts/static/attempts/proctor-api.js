/* The proctor console's calls to the staff API, and the words that say what went wrong.
 *
 * Every call resolves, never rejects: {ok, status, data, code}. `code` is the body's own `code`,
 * or one this module names for answers that have none (a 404's {"detail": "Not found."}, a
 * network failure, a server error), so the controls switch on `code` alone and never on texts.
 */
(function () {
  "use strict";

  const P = (window.Proctor = window.Proctor || {});
  const E = window.PROTOCOL.errors;
  // Codes without a domain error class on this server yet (the credit endpoint's), by their contract name.
  const NOTHING_TO_CREDIT = E.NothingToCredit || "nothing_to_credit";
  const NETWORK = "network";
  const SERVER = "server_error";
  const SESSION_CODES = ["not_authenticated", "token_not_valid", "user_inactive", "user_not_found", "authentication_failed"];
  const FIELD_LABELS = { minutes: "Minutes", seconds: "Seconds", reason: "Reason", message: "Message" };

  function codeOf(status, data) {
    if (data && typeof data.code === "string") return data.code;
    if (status === 404) return E.NotFound;
    if (status >= 500) return SERVER;
    return "http_" + status;
  }

  /** A staff API call with the tab's token (refreshed once on 401). */
  async function call(method, path, body) {
    try {
      const answer = await window.ExamAuth.api(path, { method, body });
      return Object.assign(answer, { code: answer.ok ? null : codeOf(answer.status, answer.data) });
    } catch (error) {
      return { ok: false, status: 0, data: {}, code: NETWORK };
    }
  }

  function inputProblem(data) {
    const fields = (data && data.fields) || {};
    const parts = Object.keys(fields).map((name) => {
      const label = FIELD_LABELS[name];
      const text = [].concat(fields[name]).join(" ");
      return label ? label + ": " + text : text;
    });
    return parts.length ? parts.join(" ") : (data && data.error) || "The server refused the values given.";
  }

  /**
   * What went wrong, in words for the proctor. `action` (extend, end, reopen, credit, extend_all,
   * announce, download, audit) lets one code say what it means for the control that was used.
   */
  function describe(result, action) {
    const code = result.code;
    switch (code) {
      case E.StaffOnly:
        return "Not allowed: only this exam's proctors can do this. Sign in with a proctor account of this exam.";
      case E.AttemptEnded:
        if (action === "end") return "This attempt had already ended: nothing was changed.";
        if (action === "credit") return "This attempt has already ended: offline time can only be credited while it runs. Reopen it instead.";
        return "This attempt has already ended, so its time cannot be extended. Reopen it instead.";
      case E.AttemptRunning:
        return "This attempt is still running, so there is nothing to reopen. Extend it instead.";
      case E.OtherAttemptRunning:
        return "The student has another attempt of this exam in progress. End that one first, then reopen this one.";
      case NOTHING_TO_CREDIT:
        return "There is no offline time to credit: all of it has been credited already.";
      case E.InvalidInput:
        return "Not accepted. " + inputProblem(result.data);
      case E.NotFound:
        return action === "extend_all" || action === "announce" || action === "download"
          ? "This exam no longer exists."
          : "This attempt no longer exists.";
      case NETWORK:
        return "The server could not be reached, so this may not have happened. Check the connection and the table, then try again.";
      case SERVER:
        return "The server failed to do this (error " + result.status + "). Try again in a moment.";
      case "throttled":
        return "Too many requests at once. Wait a moment, then try again.";
      default:
        if (SESSION_CODES.includes(code)) return "Your session has ended. Sign in again, then try again.";
        return (
          ((result.data && (result.data.error || result.data.detail)) || "The request failed") +
          " (" + (code || "HTTP " + result.status) + ")."
        );
    }
  }

  function filenameOf(response, fallback) {
    const match = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") || "");
    return match ? match[1] : fallback;
  }

  /**
   * Download a file that needs the token: a plain link cannot send an Authorization header, so
   * fetch it, then hand the browser a Blob URL to save. Resolves like `call` (ok, or the error).
   */
  async function download(path, fallbackName) {
    const send = (token) => fetch(path, { headers: { Authorization: "Bearer " + token, Accept: "text/csv" } });
    let response;
    try {
      response = await send(window.ExamAuth.accessToken() || "");
      if (response.status === 401) response = await send(await window.ExamAuth.refresh());
    } catch (error) {
      return { ok: false, status: 0, data: {}, code: NETWORK };
    }
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      return { ok: false, status: response.status, data, code: codeOf(response.status, data) };
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = filenameOf(response, fallbackName);
    document.body.append(link);
    link.click();
    link.remove();
    // Revoked later, not at once: the browser reads the Blob after this task.
    setTimeout(() => URL.revokeObjectURL(url), 60 * 1000);
    return { ok: true, status: response.status, data: {}, code: null };
  }

  P.api = { call, describe, download, NOTHING_TO_CREDIT };
})();
