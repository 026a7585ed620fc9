/* feegate: quiet polling for the citizen pages that wait (VietQR transfer, "being confirmed").
 *
 * No page reloads itself (no meta refresh). A page that waits holds
 *   <p data-poll-url="/pay/<id>/status.json?…" data-poll-next="<page to open once final>">
 *     <span aria-live="polite" data-poll-live></span> <a data-poll-again href="…">Kiểm tra lại</a>
 * This script asks data-poll-url at growing intervals (2 s, 3 s, 5 s, 8 s … up to 30 s,
 * never while the tab is hidden), stops on a final answer, announces its `message` in the
 * live region and then opens data-poll-next. Without script the link checks again by hand.
 * Served by Flask from payments/web/static (no CDN, no inline script: CSP-friendly).
 */
(function () {
  "use strict";

  var box = document.querySelector("[data-poll-url]");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-poll-url");
  var next = box.getAttribute("data-poll-next") || window.location.href;
  var live = box.querySelector("[data-poll-live]");
  var again = box.querySelector("[data-poll-again]");

  var DELAYS = [2, 3, 5, 8, 13, 20, 30]; // seconds; then every 30 s
  var GIVE_UP_MS = 60 * 60 * 1000; // a page left open for an hour stops asking
  var OPEN_AFTER_MS = 1500; // time to hear the announcement before the result page opens
  var started = Date.now();
  var tries = 0;
  var timer = null;
  var busy = false;
  var done = false;

  function say(text) {
    if (live && text) {
      live.textContent = text;
    }
  }

  function schedule() {
    if (done || Date.now() - started > GIVE_UP_MS) {
      return;
    }
    var seconds = DELAYS[Math.min(tries, DELAYS.length - 1)];
    tries += 1;
    timer = window.setTimeout(check, seconds * 1000);
  }

  function finish(answer) {
    done = true;
    box.setAttribute("data-poll-state", "final");
    say(answer.message);
    window.setTimeout(function () {
      window.location.replace(next);
    }, OPEN_AFTER_MS);
  }

  function check(byHand) {
    timer = null;
    if (done || busy) {
      return;
    }
    if (document.hidden && !byHand) {
      return; // resumed by visibilitychange
    }
    busy = true;
    window
      .fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (answer) {
        busy = false;
        if (answer && answer.final) {
          finish(answer);
          return;
        }
        if (byHand && answer) {
          say(answer.message);
        }
        schedule();
      })
      .catch(function () {
        busy = false;
        schedule(); // the network or the server hiccuped: try again, later each time
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !done && timer === null && !busy) {
      check(false);
    }
  });

  if (again) {
    again.addEventListener("click", function (event) {
      event.preventDefault();
      if (timer !== null) {
        window.clearTimeout(timer);
        timer = null;
      }
      tries = 0;
      check(true);
    });
  }

  box.setAttribute("data-poll-state", "polling");
  schedule();
})();
