/* The server's protocol constants, read once for every script of the page.
 *
 * base.html renders them from the server's own definitions (close codes, the end frames'
 * texts, the REST error codes), so no script keeps a hand-made copy that could drift from
 * the server's. Scripts compare against PROTOCOL.close.TIMEOUT, PROTOCOL.errors.TimeExpired…
 */
(function () {
  "use strict";

  window.PROTOCOL = Object.freeze(JSON.parse(document.getElementById("protocol").textContent));
})();
