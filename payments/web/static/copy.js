/* feegate: copy buttons on the VietQR transfer card (account number, amount, description).
 *
 * The page holds <span data-copy="<value>" data-copy-label="<accessible name>"></span> next
 * to each value; this script puts a <button> in each one that copies the value with the
 * Clipboard API and says "Đã sao chép" in the card's aria-live region. Without script (or
 * without a clipboard) nothing is added: the values stay plain text the citizen can select.
 * Served from payments/web/static (no CDN, no inline script: CSP `script-src 'self'`).
 */
(function () {
  "use strict";

  var box = document.querySelector("[data-copy-labels]");
  if (!box || !navigator.clipboard || !window.isSecureContext) {
    return;
  }
  var live = document.querySelector("[data-copy-live]");
  var copyText = box.getAttribute("data-copy-text") || "Sao chép";
  var copiedText = box.getAttribute("data-copied-text") || "Đã sao chép";
  var failedText = box.getAttribute("data-copy-failed-text") || "";

  function say(text) {
    if (live) {
      live.textContent = "";
      window.setTimeout(function () { live.textContent = text; }, 50);
    }
  }

  Array.prototype.forEach.call(box.querySelectorAll("[data-copy]"), function (slot) {
    var value = slot.getAttribute("data-copy");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy secondary";
    button.textContent = copyText;
    button.setAttribute("aria-label", slot.getAttribute("data-copy-label") || copyText);
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(value).then(function () {
        button.textContent = copiedText;
        say(copiedText + ": " + value);
        window.setTimeout(function () { button.textContent = copyText; }, 2000);
      }, function () {
        say(failedText);
      });
    });
    slot.appendChild(button);
  });
})();
