/* The exam page's notices: what the proctor changed (time, warnings) and the proctor's announcements.
 *
 * Nothing here takes the focus: a student answering a question keeps the cursor where it is,
 * and screen readers hear notices through the page's polite announcer (#announcer). Every
 * notice has a real button to dismiss it; dismissing by keyboard puts the focus back where it
 * was before the student moved into the notices. Announcements stay until dismissed, and a
 * dismissal is remembered per announcement id in localStorage: shared by the student's tabs
 * (a dismissal in one tab hides the banner in the others) and kept over a reload.
 */
(function () {
  "use strict";

  const E = window.Exam;
  const el = E.el;
  const DISMISSED_KEY = "examtimer.dismissed-announcements";
  const DISMISSED_KEPT = 200; // ids remembered; older ones belong to long-finished exams

  const shownAnnouncements = {}; // id -> its banner
  let focusBefore = null; // where the focus was before it entered the notices

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function dismissedIds() {
    try {
      const ids = JSON.parse(localStorage.getItem(DISMISSED_KEY) || "[]");
      return Array.isArray(ids) ? ids : [];
    } catch (error) {
      return []; // storage refused (private mode) or garbled: nothing is remembered
    }
  }

  function rememberDismissed(id) {
    const ids = dismissedIds().filter((known) => known !== id);
    ids.push(id);
    try {
      localStorage.setItem(DISMISSED_KEY, JSON.stringify(ids.slice(-DISMISSED_KEPT)));
    } catch (error) {
      // Not remembered: the banner comes back on a reload, which is the safe side.
    }
  }

  /** Remove `node`; if the focus was in it, give it back to where it was before the notices (or the page). */
  function removeKeepingFocus(node) {
    const hadFocus = node.contains(document.activeElement);
    const container = node.parentElement;
    node.remove();
    if (container && !container.children.length) container.hidden = true;
    if (!hadFocus) return;
    const next = document.querySelector("#live-notices .notice-dismiss, #announcements .notice-dismiss");
    const back = focusBefore && document.contains(focusBefore) && !focusBefore.disabled ? focusBefore : null;
    (back || next || el("main")).focus();
  }

  function dismissButton(label, onDismiss) {
    const button = element("button", "notice-dismiss", "Dismiss");
    button.type = "button";
    button.setAttribute("aria-label", "Dismiss: " + label);
    button.addEventListener("click", onDismiss);
    return button;
  }

  /**
   * A notice of `kind` ("time-changed", "warning", "ended") with `text`; `replace`: one notice of
   * that kind at a time (a new warning replaces the last). Returns the notice element.
   */
  function notice(kind, text, options) {
    const opts = options || {};
    const list = el("live-notices");
    if (opts.replace) list.querySelectorAll('[data-kind="' + kind + '"]').forEach(removeKeepingFocus);
    const item = element("div", "live-notice");
    item.dataset.kind = kind;
    const words = element("p", "live-notice-text", text);
    item.append(words, dismissButton(text, () => removeKeepingFocus(item)));
    list.prepend(item); // the newest first, next to the clock
    list.hidden = false;
    return item;
  }

  function timeOf(iso) {
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) return "";
    return moment.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /** Show an announcement (from the socket or the `questions` list) unless shown or dismissed; true if new. */
  function announcement(item) {
    if (shownAnnouncements[item.id] || dismissedIds().includes(item.id)) return false;
    const banner = element("section", "announcement");
    banner.dataset.announcementId = item.id;
    banner.setAttribute("aria-label", "Announcement from the proctor");
    const head = element("p", "announcement-head");
    head.append(element("strong", null, "Announcement from the proctor"));
    const at = timeOf(item.created_at);
    if (at) head.append(" ", element("span", "announcement-time", "at " + at));
    const body = element("div", "announcement-body");
    body.append(head, element("p", "announcement-message", item.message));
    banner.append(
      body,
      dismissButton("announcement " + item.message, () => {
        rememberDismissed(item.id);
        delete shownAnnouncements[item.id];
        removeKeepingFocus(banner);
      }),
    );
    shownAnnouncements[item.id] = banner;
    const list = el("announcements");
    list.append(banner); // oldest first, as the proctor posted them
    list.hidden = false;
    return true;
  }

  /** The exam's announcements as `questions` lists them (a load, a reload, a reconnect). */
  function announcements(items) {
    (items || []).forEach(announcement);
  }

  // Another tab of this browser dismissed one: hide it here too.
  window.addEventListener("storage", (event) => {
    if (event.key !== DISMISSED_KEY) return;
    dismissedIds().forEach((id) => {
      const banner = shownAnnouncements[id];
      if (!banner) return;
      delete shownAnnouncements[id];
      removeKeepingFocus(banner);
    });
  });

  document.addEventListener("DOMContentLoaded", () => {
    // Where the focus came from when it entered the notices: it goes back there on a dismissal.
    [el("live-notices"), el("announcements")].forEach((area) =>
      area.addEventListener("focusin", (event) => {
        const from = event.relatedTarget;
        if (from && !el("live-notices").contains(from) && !el("announcements").contains(from)) focusBefore = from;
      }),
    );
  });

  E.notices = { notice, announcement, announcements };
})();
