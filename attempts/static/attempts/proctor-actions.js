/* A row's controls, each in the row's panel: extend, end (after a confirmation), reopen, and the
 * credit of offline time. The exam-wide ones are in proctor-exam.js.
 *
 * A control's answer changes the table through the proctor socket's events (within a second on
 * every dashboard), not through its REST answer, so every proctor's table shows the same
 * sequence. The exceptions say why below. Errors are shown in words beside the control.
 */
(function () {
  "use strict";

  const P = (window.Proctor = window.Proctor || {});
  const MINUTES_MAX = 1440;
  const REASON_MAX = 500;

  function make(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (key === "text") node.textContent = value;
      else if (key in node) node[key] = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => node.append(child));
    return node;
  }

  function field(label, input, hint) {
    const wrap = make("div", { className: "field" }, [make("label", { htmlFor: input.id, text: label }), input]);
    if (hint) {
      const note = make("span", { className: "hint", id: input.id + "-hint", text: hint });
      input.setAttribute("aria-describedby", note.id);
      wrap.append(note);
    }
    return wrap;
  }

  const minutesInput = (id, value) =>
    make("input", { id, type: "number", min: 1, max: MINUTES_MAX, step: 1, required: true, value, inputMode: "numeric" });
  const reasonInput = (id) => make("input", { id, type: "text", maxLength: REASON_MAX, autocomplete: "off" });

  /** The body's `reason`, left out when blank so the server's default applies. */
  function withReason(body, input) {
    const reason = input.value.trim();
    return reason ? Object.assign(body, { reason }) : body;
  }

  /** Send one control's request; on failure the words go to `error`, beside the control. */
  async function send(form, submit, error, action, request) {
    error.hidden = true;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    const result = await request();
    submit.disabled = false;
    form.removeAttribute("aria-busy");
    if (!result.ok) {
      error.textContent = P.api.describe(result, action);
      error.dataset.code = result.code;
      error.hidden = false;
    }
    return result;
  }

  /** A row panel's frame: title, the form's fields, the confirm and Cancel buttons, the error line. */
  function panelForm(section, title, fields, confirmText, panel, options) {
    const heading = make("h3", { id: "row-panel-title", text: title });
    const form = make("form", { className: "panel-form" });
    const submit = make("button", { type: "submit", className: (options && options.danger) || "primary", text: confirmText });
    const cancel = make("button", { type: "button", text: "Cancel" });
    cancel.addEventListener("click", panel.close);
    const error = make("p", { className: "form-error", id: "row-panel-error", role: "alert", hidden: true });
    const lead = options && options.lead ? [make("p", { className: "panel-lead", text: options.lead })] : [];
    form.append(...lead, make("div", { className: "field-row" }, fields), make("div", { className: "panel-buttons" }, [submit, cancel]), error);
    section.append(heading, form);
    return { form, submit, error };
  }

  const attemptPath = (record, verb) => "/api/exam/proctor/attempts/" + record.attemptId + "/" + verb + "/";

  P.panel.register("extend", (section, record, panel) => {
    const minutes = minutesInput("row-panel-minutes", 10);
    const reason = reasonInput("row-panel-reason");
    const parts = panelForm(
      section,
      "Extend time: " + record.username,
      [field("Minutes to add", minutes), field("Reason (the student sees it)", reason)],
      "Extend",
      panel,
    );
    parts.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = withReason({ minutes: Number(minutes.value) }, reason);
      const result = await send(parts.form, parts.submit, parts.error, "extend", () =>
        P.api.call("POST", attemptPath(record, "extend"), body),
      );
      if (!result.ok) return;
      panel.close();
      P.say("Added " + body.minutes + " min for " + record.username + ".");
    });
    return { focus: minutes };
  });

  P.panel.register("end", (section, record, panel) => {
    const reason = reasonInput("row-panel-reason");
    const parts = panelForm(section, "End now: " + record.username, [field("Reason (for the audit trail)", reason)], "End the attempt now", panel, {
      danger: "danger",
      lead:
        "End " + record.username + "'s attempt now? It is scored from the answers saved so far and the student " +
        "cannot answer any more. You can reopen it afterwards.",
    });
    parts.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = await send(parts.form, parts.submit, parts.error, "end", () =>
        P.api.call("POST", attemptPath(record, "end"), withReason({}, reason)),
      );
      if (!result.ok) return;
      panel.close();
      P.say("Ended " + record.username + "'s attempt: score " + result.data.score + " (" + result.data.percentage + "%).");
    });
    return { focus: reason };
  });

  P.panel.register("reopen", (section, record, panel) => {
    const minutes = minutesInput("row-panel-minutes", 10);
    const reason = reasonInput("row-panel-reason");
    const parts = panelForm(
      section,
      "Reopen: " + record.username,
      [field("Minutes to give", minutes, "From now; answers are kept."), field("Reason (for the audit trail)", reason)],
      "Reopen",
      panel,
    );
    parts.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = withReason({ minutes: Number(minutes.value) }, reason);
      const result = await send(parts.form, parts.submit, parts.error, "reopen", () =>
        P.api.call("POST", attemptPath(record, "reopen"), body),
      );
      if (!result.ok) return;
      panel.close();
      P.say("Reopened " + record.username + "'s attempt for " + body.minutes + " min.");
    });
    return { focus: minutes };
  });

  P.panel.register("credit", (section, record, panel) => {
    const reason = reasonInput("row-panel-reason");
    const lead = make("p", { className: "panel-lead" });
    const describe = (now) =>
      (lead.textContent =
        now.username + "'s page has been offline for " + P.rows.duration(P.rows.offlineTotal(now) || 0) + " in all, " +
        P.rows.duration(now.creditedSeconds) + " of it credited already. Add the " + P.rows.duration(P.rows.uncredited(now)) +
        " not credited yet to the time left?");
    describe(record);
    const parts = panelForm(
      section,
      "Credit offline time: " + record.username,
      [field("Reason (the student sees it)", reason)],
      "Credit offline time",
      panel,
    );
    parts.form.prepend(lead);
    parts.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = await send(parts.form, parts.submit, parts.error, "credit", () =>
        P.api.call("POST", attemptPath(record, "credit-offline"), withReason({}, reason)),
      );
      if (!result.ok) return;
      // No event carries the credited total: keep it from the answer, or the button would offer the same time again.
      const now = P.rows.all.get(record.attemptId);
      if (now) {
        now.creditedSeconds += Number(result.data.credited_seconds) || 0;
        P.rows.setRemaining(now, result.data.remaining_seconds);
      }
      panel.close();
      P.table.render();
      P.say("Credited " + P.rows.duration(result.data.credited_seconds || 0) + " of offline time to " + record.username + ".");
    });
    return { focus: reason, rowChanged: (now) => now && describe(now) };
  });

  // What the exam-wide controls (proctor-exam.js) build with too.
  P.forms = { make, withReason, send };
})();
