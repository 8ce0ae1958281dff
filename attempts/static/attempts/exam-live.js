/* What the proctor's live controls do on the student's page: a changed time, the warnings,
 * the announcements (the socket's frames, handed here by exam-socket.js).
 *
 * A changed time moves the countdown at once and says what changed and why; a warning is a
 * visible notice and a sentence for screen readers; an announcement is a banner that stays
 * until dismissed (exam-notices.js). None of them takes the focus.
 */
(function () {
  "use strict";

  const E = window.Exam;

  /** "10 min", "1 min 30 s", "45 s", "1 h 5 min": a length of time as a notice says it. */
  function lengthOf(totalSeconds) {
    const seconds = Math.abs(Math.round(totalSeconds));
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = seconds % 60;
    const parts = [];
    if (hours) parts.push(hours + " h");
    if (minutes) parts.push(minutes + " min");
    if (rest || !parts.length) parts.push(rest + " s");
    return parts.join(" ");
  }

  /** "+10 min added by the proctor: fire alarm"; "−5 min taken off by the proctor"; no reason, no colon. */
  function changeText(changeSeconds, reason) {
    let text;
    if (changeSeconds > 0) text = "+" + lengthOf(changeSeconds) + " added by the proctor";
    else if (changeSeconds < 0) text = "\u2212" + lengthOf(changeSeconds) + " taken off by the proctor";
    else text = "Your time was adjusted by the proctor";
    const why = (reason || "").trim();
    return why ? text + ": " + why : text;
  }

  function timeChanged(frame) {
    if (E.isOver()) return;
    const changeSeconds = Number(frame.change_seconds) || 0;
    const givenBack = E.clock.jump(changeSeconds * 1000, Number(frame.remaining_seconds) * 1000);
    // At zero on the page's clock the inputs were locked while the server confirmed: time given back opens them.
    if (givenBack && E.state() === "ending" && !E.clock.lockDue()) E.transition("running", "the proctor gave time");
    const text = changeText(changeSeconds, frame.reason);
    E.notices.notice("time-changed", text);
    E.view.announce(text + ". Time left: " + window.formatCountdown(Math.ceil(E.clock.left() || 0)) + ".");
  }

  /** The sentence for a threshold: its round number when crossed just now, "less than" when well below it. */
  function warningSentence(frame) {
    const minutes = Number(frame.minutes_left);
    const unit = minutes === 1 ? "minute" : "minutes";
    const wellBelow = Number(frame.remaining_seconds) < minutes * 60 - 10;
    return (wellBelow ? "Less than " + minutes + " " + unit : minutes + " " + unit) + " left.";
  }

  function warning(frame) {
    if (E.isOver()) return;
    E.notices.notice("warning", frame.message || warningSentence(frame), { replace: true });
    // The clock says the same sentence at its own 5 and 1 minute lines: said once, not twice.
    E.view.announce(warningSentence(frame), { once: true });
  }

  function announcement(frame) {
    if (E.notices.announcement(frame)) E.view.announce("Announcement from the proctor: " + frame.message);
  }

  E.live = { timeChanged, warning, announcement, changeText };
})();
