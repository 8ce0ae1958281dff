/* The clock text of the exam page and the proctor table: 59:07, or 1:02:03 from an hour up. */
(function () {
  "use strict";

  function formatCountdown(total) {
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = total % 60;
    const two = (n) => String(n).padStart(2, "0");
    return hours > 0 ? hours + ":" + two(minutes) + ":" + two(seconds) : two(minutes) + ":" + two(seconds);
  }

  window.formatCountdown = formatCountdown;
})();
