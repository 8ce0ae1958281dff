/* The sign-in page: username and password for a JWT pair, then on to ?next= (same site only). */
(function () {
  "use strict";

  /** The ?next= target when it is a path on this site, else null (no open redirect). */
  function safeNext() {
    const raw = new URLSearchParams(location.search).get("next");
    if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) return null;
    try {
      const target = new URL(raw, location.origin);
      return target.origin === location.origin ? target.pathname + target.search + target.hash : null;
    } catch (error) {
      return null;
    }
  }

  function showNextHint(text) {
    const hint = document.getElementById("login-next");
    hint.textContent = text;
    hint.hidden = false;
  }

  function showSignedIn(record) {
    document.getElementById("login-form").hidden = true;
    document.getElementById("login-done").hidden = false;
    document.getElementById("login-done-text").textContent =
      "Signed in" + (record.username ? " as " + record.username : "") + ".";
    window.ExamAuth.showUser();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("login-form");
    const error = document.getElementById("login-error");
    const button = document.getElementById("login-submit");
    const existing = window.ExamAuth.load();
    if (existing) showSignedIn(existing);
    else if (safeNext()) showNextHint("Sign in to continue to " + safeNext());
    document.getElementById("username").focus();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const username = form.username.value.trim();
      const password = form.password.value;
      error.hidden = true;
      if (!username || !password) {
        error.textContent = "Enter your username and password.";
        error.hidden = false;
        return;
      }
      button.disabled = true;
      button.textContent = "Signing in…";
      try {
        const record = await window.ExamAuth.signIn(username, password);
        const next = safeNext();
        if (next) {
          location.assign(next);
          return;
        }
        showSignedIn(record);
      } catch (problem) {
        error.textContent = problem instanceof TypeError ? "Cannot reach the server. Try again." : problem.message;
        error.hidden = false;
        form.password.select();
      } finally {
        button.disabled = false;
        button.textContent = "Sign in";
      }
    });
  });
})();
