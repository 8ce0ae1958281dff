/* Signing in again on the exam page itself, when the session ended mid-exam.
 *
 * A refresh whose answer was lost on the network leaves this tab with a revoked refresh token
 * (tokens rotate, and the server already took the old one back): only the password restores
 * the session. Leaving for the sign-in page would cost the student the page, and time; so
 * the page asks here, and everything else goes on meanwhile: the answers stay as they are,
 * the clock keeps counting and locks at the deadline by itself, and the requests made in
 * between wait for the sign-in (auth.js) and are sent after it.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;

  /** The session ended: show the form, with the student's username when this tab knows it. */
  function ask(username) {
    const name = el("reauth-username");
    name.value = username || "";
    // Only the same student may go on with this attempt.
    name.readOnly = Boolean(username);
    el("reauth-password").value = "";
    el("reauth-error").hidden = true;
    el("reauth").hidden = false;
    if (!E.isOver()) {
      window.LiveSocket.showConnection("offline", "Signed out: sign in again to go on. The clock keeps running.");
    }
    E.view.announce("Your session ended. Sign in again to go on; your answers are kept and the clock keeps running.");
    (username ? el("reauth-password") : name).focus();
  }

  async function submit(event) {
    event.preventDefault();
    const button = el("reauth-submit");
    const error = el("reauth-error");
    const username = el("reauth-username").value.trim();
    const password = el("reauth-password").value;
    if (!username || !password) {
      error.textContent = "Enter your username and password.";
      error.hidden = false;
      return;
    }
    button.disabled = true;
    error.hidden = true;
    try {
      await window.ExamAuth.signIn(username, password);
      el("reauth").hidden = true;
      el("reauth-password").value = "";
      E.view.announce("Signed in again.");
    } catch (failure) {
      // A wrong password, or the network: the form stays, and so does the page.
      error.textContent = failure instanceof TypeError ? "Cannot reach the server. Try again." : failure.message;
      error.hidden = false;
      el("reauth-password").focus();
    } finally {
      button.disabled = false;
    }
  }

  window.ExamAuth.onSessionLost(ask);
  document.addEventListener("DOMContentLoaded", () => el("reauth").addEventListener("submit", submit));
})();
