/* The console's exam-wide controls: extend everyone still working, post an announcement (and list
 * the announcements the socket echoes), download the results CSV. Errors in words beside each.
 */
(function () {
  "use strict";

  const P = (window.Proctor = window.Proctor || {});
  const { make, withReason, send } = P.forms;
  let examId = null;

  function wireExamExtend() {
    const form = document.getElementById("extend-all-form");
    const minutes = document.getElementById("extend-all-minutes");
    const reason = document.getElementById("extend-all-reason");
    const submit = document.getElementById("extend-all-submit");
    const error = document.getElementById("extend-all-error");
    const done = document.getElementById("extend-all-done");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      done.textContent = "";
      const body = withReason({ minutes: Number(minutes.value) }, reason);
      const result = await send(form, submit, error, "extend_all", () =>
        P.api.call("POST", "/api/exam/proctor/exams/" + examId + "/extend/", body),
      );
      if (!result.ok) return;
      const n = result.data.extended;
      done.textContent =
        n === 0
          ? "No attempt is running: nothing was extended."
          : "Added " + body.minutes + " min to " + n + (n === 1 ? " attempt" : " attempts") + " still running.";
      reason.value = "";
    });
  }

  function wireAnnouncement() {
    const form = document.getElementById("announce-form");
    const message = document.getElementById("announce-message");
    const submit = document.getElementById("announce-submit");
    const error = document.getElementById("announce-error");
    const done = document.getElementById("announce-done");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      done.textContent = "";
      const result = await send(form, submit, error, "announce", () =>
        P.api.call("POST", "/api/exam/proctor/exams/" + examId + "/announcements/", { message: message.value }),
      );
      if (!result.ok) return;
      done.textContent = "Posted to everyone taking the exam at " + new Date(result.data.created_at).toLocaleTimeString() + ".";
      message.value = "";
    });
  }

  function wireDownload() {
    const link = document.getElementById("download-csv");
    const error = document.getElementById("download-error");
    link.addEventListener("click", async (event) => {
      event.preventDefault(); // the link alone would go without the token (401)
      if (link.getAttribute("aria-disabled") === "true") return;
      error.hidden = true;
      link.setAttribute("aria-disabled", "true");
      const result = await P.api.download(link.getAttribute("href"), "exam-" + examId + "-results.csv");
      link.removeAttribute("aria-disabled");
      if (!result.ok) {
        error.textContent = P.api.describe(result, "download");
        error.dataset.code = result.code;
        error.hidden = false;
      }
    });
  }

  /** An announcement frame (from any proctor) in the list under the exam-wide controls. */
  function showAnnouncement(frame) {
    const list = document.getElementById("announcements");
    if (list.querySelector("[data-announcement-id='" + frame.id + "']")) return; // shown once, however often it arrives
    const when = make("time", { dateTime: frame.created_at, text: new Date(frame.created_at).toLocaleTimeString() });
    const by = frame.by ? " · " + frame.by.username : "";
    const item = make("li", { "data-announcement-id": frame.id }, [when, by + ": ", make("span", { className: "message", text: frame.message })]);
    list.prepend(item);
    document.getElementById("announcements-box").hidden = false;
  }

  P.controls = {
    start(id) {
      examId = id;
      wireExamExtend();
      wireAnnouncement();
      wireDownload();
    },
    showAnnouncement,
  };
})();
